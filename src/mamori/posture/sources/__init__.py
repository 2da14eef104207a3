"""Where manifests come from: files and stdin, a live cluster, admission requests."""
