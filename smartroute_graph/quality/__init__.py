"""Judging answers: the response scorer, answer review, and comparing models side by side."""
