"""Image and node vulnerability assessment: images -> catalogers -> SBOM -> matcher (issue 8)."""
