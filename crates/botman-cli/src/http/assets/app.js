// botman dashboard
