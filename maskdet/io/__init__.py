"""Input and output: images, video sources and writers, what the CLI takes, result rows on disk."""
