"""Operations on a running hub: encrypted backups of the database and key files, and their restore.

Errors are the hub's own (hub.errors.BackupError); nothing here maps them to exit codes or HTTP.
"""
