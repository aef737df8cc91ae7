-- Same accounts as deploy/local: a least-privilege CDC user for the collector.
CREATE USER IF NOT EXISTS 'shiftlog_cdc'@'%' IDENTIFIED BY 'shiftlog_cdc';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, RELOAD, SHOW DATABASES ON *.* TO 'shiftlog_cdc'@'%';
-- The snapshot's signal table (snapshot.mode = initial, the default; docs/snapshot.md).
CREATE DATABASE IF NOT EXISTS shiftlog;
GRANT CREATE, INSERT, UPDATE ON shiftlog.* TO 'shiftlog_cdc'@'%';
-- The source database of examples/docker/collector.conf, for the first rows to copy.
CREATE DATABASE IF NOT EXISTS shop;
