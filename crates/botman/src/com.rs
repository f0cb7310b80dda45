//! COM apartments for `is_com_bot(true)` (Windows only).
//!
//! On Windows each attempt of a COM bot runs between `CoInitializeEx`
//! (single-threaded apartment) and `CoUninitialize` on its worker thread.
//! Elsewhere the flag has no effect; the manager warns when such a bot is
//! added. This is the one module allowed `unsafe` (STYLE.md §11).

/// Holds the thread's COM apartment for the duration of one attempt.
#[derive(Debug)]
pub(crate) struct Apartment {
    #[cfg_attr(not(windows), allow(dead_code))]
    entered: bool,
}

impl Apartment {
    /// Enters a single-threaded apartment when `com` is set (Windows).
    #[cfg(windows)]
    #[allow(unsafe_code)]
    pub(crate) fn enter(com: bool) -> Apartment {
        use windows_sys::Win32::System::Com::{COINIT_APARTMENTTHREADED, CoInitializeEx};
        if !com {
            return Apartment { entered: false };
        }
        // SAFETY: called on the worker thread that runs the job, with a null
        // reserved pointer as the API requires; success (S_OK or S_FALSE) is
        // balanced by CoUninitialize in Drop on the same thread.
        let hr = unsafe { CoInitializeEx(std::ptr::null(), COINIT_APARTMENTTHREADED as u32) };
        Apartment { entered: hr >= 0 }
    }

    /// Enters nothing: COM exists only on Windows.
    #[cfg(not(windows))]
    pub(crate) fn enter(_com: bool) -> Apartment {
        Apartment { entered: false }
    }
}

#[cfg(windows)]
impl Drop for Apartment {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        if self.entered {
            // SAFETY: balances the successful CoInitializeEx above, on the
            // same thread (the guard never leaves the worker closure).
            unsafe { windows_sys::Win32::System::Com::CoUninitialize() };
        }
    }
}
