"""AWS access: sessions built from stored accounts, account validation, and what AWS
resources and policy documents mean (exposure of a bucket, policy document shapes), shared by
the inputs and the governance actions."""
