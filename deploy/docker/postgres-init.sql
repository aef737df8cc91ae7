-- Same roles as deploy/local: a replication role for the collector.
CREATE ROLE shiftlog_cdc WITH LOGIN REPLICATION PASSWORD 'shiftlog_cdc';
-- The target database of examples/docker/applier.conf (the applier does not create databases).
CREATE DATABASE shop_copy;
