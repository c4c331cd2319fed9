"""The fault matrix (issues 5 and 12) as a test package: stage.py sets each scenario up and reads what it left,
scenarios.py and states.py hold the faults. tests/tools/test_fault_matrix.py asserts on them; bench/fault_matrix.py
prints the same runs as a table."""
