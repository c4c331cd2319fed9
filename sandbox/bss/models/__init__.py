"""BSS rules and state: the sandbox calendar, what each billable thing costs, and what has been billed."""
