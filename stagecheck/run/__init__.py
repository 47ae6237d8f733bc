"""During a run: settings, the target, the recording HTTP and WebSocket clients, signed-in
users, what users do on the platform, and the run's and scenario's state."""
