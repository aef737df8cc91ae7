# The MariaDB workload of the binlog benchmarks (bench/mysql_collector.sh, bench/compare): SQL for
# n row changes on table db.t (1/2 INSERT, 1/4 UPDATE, 1/4 DELETE), every statement changing `rows`
# rows, `txn` statements per transaction (1: autocommit each).
#   awk -v n=N -v db=DB -v txn=TXN -v rows=ROWS -f bench/mysql_load.awk > load.sql
# The table: CREATE TABLE db.t (id INT PRIMARY KEY, a INT, b BIGINT, c VARCHAR(32), d DECIMAL(12,2),
#            e DATETIME(6), f DOUBLE, g TINYINT, h CHAR(8), i TEXT)
function stmt(s) {            # TXN statements per transaction
    if (txn > 1 && k % txn == 0) printf "BEGIN;\n";
    print s; k++;
    if (txn > 1 && k % txn == 0) printf "COMMIT;\n";
}
BEGIN {
    ins = int(n / 2); upd = int(n / 4); del = n - ins - upd; k = 0;
    print "SET autocommit=1;";
    for (i = 1; i <= ins; i += rows) {
        v = "";
        for (j = i; j < i + rows && j <= ins; j++)
            v = v sprintf("%s(%d,%d,%d,\"row %d\",%d.25,\"2026-11-25 10:00:00.%06d\",%d.5,%d,\"ch%d\",\"text %d\")",
                          j > i ? "," : "", j, j, j * 1000003, j, j, j % 1000000, j, j % 100, j % 1000, j);
        stmt(sprintf("INSERT INTO %s.t VALUES %s;", db, v));
    }
    for (i = 1; i <= upd; i += rows)
        stmt(sprintf("UPDATE %s.t SET a=a+1, c=CONCAT(\"upd \", id) WHERE id BETWEEN %d AND %d;", db, i,
                     (i + rows - 1 < upd ? i + rows - 1 : upd)));
    for (i = 1; i <= del; i += rows)
        stmt(sprintf("DELETE FROM %s.t WHERE id BETWEEN %d AND %d;", db, ins - (i + rows - 1 < del ? i + rows - 1 : del) + 1,
                     ins - i + 1));
    if (txn > 1 && k % txn != 0) printf "COMMIT;\n";
}
