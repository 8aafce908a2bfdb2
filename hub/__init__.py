"""The hub: ingest of signed record batches, the multi-tenant database, the admin API and CSV files.

Exceptions (hub.errors)::

    HubError                    base of everything the hub raises on purpose
     +-- ConfigError            configuration is missing or malformed (names the variable or TOML key)
     +-- KeyFileError           a key or secret file is unreadable, malformed or too permissive
     +-- MigrationError         a migration file failed to apply (names the file)
     +-- ScopeError             a database scope is incomplete (e.g. municipality scope without a code)
     +-- NotFoundError          a venue, device or municipality named in a command does not exist
     +-- InputError             a value given to a command is malformed (an id, a name, a code)
     +-- ConflictError          an id is already taken (venue add, device add)
     +-- IngestError            base of what the ingest refuses
          +-- BatchRefused      a whole batch is refused before anything is written (.reason)
          +-- BrokerError       the broker refused the login or a subscription, or broke the protocol
     +-- BackupError            a backup cannot be written or restored (secret, file, audit chain, target)
"""
