-- Same roles as deploy/local: a replication role for the collector.
CREATE ROLE shiftlog_cdc WITH LOGIN REPLICATION PASSWORD 'shiftlog_cdc';
