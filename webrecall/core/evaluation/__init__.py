"""Checks anyone can run: the generalisation check (train on a few docs hosts, test on unseen hosts and kinds)."""
