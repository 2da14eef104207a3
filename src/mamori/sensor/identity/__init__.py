"""Container identity: cgroup path -> container id; runtime metadata -> image, pod, namespace."""
