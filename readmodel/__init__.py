"""The SQL read model: its tables, its migrations, and the reads and writes the API and the
worker both make through it (the sharing policy's read path, members and keys, subscriptions).
Below api/ and streams/, which never import each other."""
