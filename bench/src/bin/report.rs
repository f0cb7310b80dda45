//! Reads criterion's results under `target/criterion` and prints the
//! ns/op table for the cron benchmark, with each peer's time divided by
//! botman's (a ratio above 1 means botman is faster).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn mean_ns(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    // {"mean":{"confidence_interval":{...},"point_estimate":123.4,...},...}
    let mean = text.find("\"mean\"")?;
    let rest = &text[mean..];
    let p = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let end = rest[p..].find([',', '}'])?;
    rest[p..p + end].trim().parse().ok()
}

fn main() {
    let root: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from("target/criterion"));
    let Ok(groups) = std::fs::read_dir(&root) else {
        eprintln!(
            "error: no criterion results in {}; run `cargo bench -p botman-bench --bench cron` first",
            root.display()
        );
        std::process::exit(2);
    };
    let engines = ["botman", "saffron", "cron", "croner"];
    let mut names: Vec<_> = groups
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    for group in names {
        let gname = group
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .replace('_', "/");
        if gname == "report" {
            continue;
        }
        // case -> engine -> ns
        let mut rows: BTreeMap<String, BTreeMap<&str, f64>> = BTreeMap::new();
        // Criterion stores "group/engine/case" as group/engine_case.
        let Ok(cases) = std::fs::read_dir(&group) else {
            continue;
        };
        for case in cases.flatten() {
            let dir = case.file_name().to_string_lossy().into_owned();
            let Some((engine, name)) = dir.split_once('_') else {
                continue;
            };
            let Some(engine) = engines.iter().find(|e| **e == engine) else {
                continue;
            };
            if let Some(ns) = mean_ns(&case.path()) {
                rows.entry(name.to_owned()).or_default().insert(engine, ns);
            }
        }
        if rows.is_empty() {
            continue;
        }
        println!(
            "\n### {}\n",
            group.file_name().unwrap_or_default().to_string_lossy()
        );
        println!("| expression | botman ns | saffron ns (x) | cron ns (x) | croner ns (x) |");
        println!("|---|---:|---:|---:|---:|");
        for (case, by) in rows {
            let ours = by.get("botman").copied();
            let cell = |e: &str| match (by.get(e), ours) {
                (Some(t), Some(o)) => format!("{t:.1} ({:.1}x)", t / o),
                (Some(t), None) => format!("{t:.1}"),
                _ => "-".to_owned(),
            };
            println!(
                "| {case} | {} | {} | {} | {} |",
                ours.map_or("-".to_owned(), |o| format!("{o:.1}")),
                cell("saffron"),
                cell("cron"),
                cell("croner")
            );
        }
    }
}
