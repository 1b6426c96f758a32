"""Hidden checks, one pytest module per graded part (run them with autograder.runner)."""
