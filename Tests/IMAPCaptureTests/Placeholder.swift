// Capture tests live here.
