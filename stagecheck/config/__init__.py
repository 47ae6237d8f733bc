"""What a run is pointed at and how: settings (behave userdata and the environment), each
checked before the first scenario, and the target (URLs and credentials)."""
