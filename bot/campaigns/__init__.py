"""The yearly reminder campaigns."""
