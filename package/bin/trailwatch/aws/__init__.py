"""AWS access: sessions built from stored accounts, and account validation."""
