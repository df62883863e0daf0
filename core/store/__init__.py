"""The on-disk store: database, the one writer, named read queries, blobs, snapshots."""
