"""Generated DDL scripts, driven from the outside (STYLE.md, Tests): a seeded random script of
the DDL and DML an application's migrations run — CREATE, DROP TABLE IF EXISTS then CREATE with
other columns, ADD COLUMN (with and without a constant DEFAULT), DROP COLUMN, RENAME COLUMN,
widening MODIFY, RENAME TABLE, TRUNCATE, between batches of INSERT / UPDATE / DELETE — runs on
a MariaDB source while the collector and appliers to PostgreSQL, MariaDB and MongoDB (the
examples/ configs) follow it; then every table the source holds must be in every target with
the same columns and values (the comparison of test_outside_workloads.py: independent clients,
every column of every row).

The seed is printed; SHIFTLOG_SEED=<seed> replays one script. make test runs 2 scripts of
120 statements; SHIFTLOG_LONG 6 of 400.
"""

import os
import random
import time

import pytest

from test_outside_workloads import SysbenchPipeline, assert_no_dlq
from e2e_util import made_and_closed

LONG = bool(os.environ.get("SHIFTLOG_LONG"))

# (column type, widened type or None, a value maker)
TYPES = [
    ("INT", "BIGINT", lambda r: r.randrange(-10**6, 10**6)),
    ("VARCHAR(20)", "VARCHAR(64)", lambda r: "".join(r.choice("abcxyz -'\\\"") for _ in
                                                       range(r.randrange(0, 20)))),
    ("DECIMAL(12,2)", "DECIMAL(16,2)", lambda r: f"{r.randrange(-10**9, 10**9) / 100:.2f}"),
    ("DATETIME", None, lambda r: f"20{r.randrange(10, 30)}-0{r.randrange(1, 9)}-1"
                                 f"{r.randrange(0, 9)} 1{r.randrange(0, 9)}:3{r.randrange(0, 9)}:00"),
    ("DOUBLE", None, lambda r: r.choice([0.5, -2.25, 1e10, 3.0, 1234.5])),
    ("BIGINT", None, lambda r: r.randrange(-2**62, 2**62)),
]
TYPE = {t[0]: t for t in TYPES}
WIDER = {t[0]: t[1] for t in TYPES}
for base, wide, make in list(TYPES):
    if wide:
        TYPE[wide] = (wide, None, make)


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"
    return repr(v)


class Script:
    """A seeded script over a few table names; .tables mirrors the source's tables after each
    statement ({name: {"cols": [(name, type)], "ids": set, "next": int}})."""

    def __init__(self, rng, db):
        self.rng, self.db = rng, db
        self.tables = {}
        self.ncol = 0
        self.nname = 0

    def q(self, t):
        return f"`{self.db}`.`{t}`"

    def new_col(self):
        self.ncol += 1
        return f"c{self.ncol}", self.rng.choice(TYPES)[0]

    def create(self, name):
        cols = [self.new_col() for _ in range(self.rng.randrange(1, 4))]
        self.tables[name] = {"cols": cols, "ids": set(), "next": 1}
        body = ", ".join(f"`{c}` {t}" for c, t in cols)
        return [f"CREATE TABLE {self.q(name)} (id INT PRIMARY KEY, {body})"]

    def value(self, typ):
        return None if self.rng.random() < 0.1 else TYPE[typ][2](self.rng)

    def insert(self, name):
        t = self.tables[name]
        rows = []
        for _ in range(self.rng.randrange(1, 8)):
            i = t["next"]
            t["next"] += 1
            t["ids"].add(i)
            rows.append("(" + ", ".join([str(i)] + [lit(self.value(ty)) for _, ty in t["cols"]])
                        + ")")
        cols = ", ".join(["id"] + [f"`{c}`" for c, _ in t["cols"]])
        return [f"INSERT INTO {self.q(name)} ({cols}) VALUES " + ", ".join(rows)]

    def update(self, name):
        t = self.tables[name]
        if not t["ids"] or not t["cols"]:
            return self.insert(name)
        c, ty = self.rng.choice(t["cols"])
        ids = self.rng.sample(sorted(t["ids"]), min(len(t["ids"]), self.rng.randrange(1, 5)))
        return [f"UPDATE {self.q(name)} SET `{c}` = {lit(self.value(ty))} WHERE id IN "
                f"({', '.join(map(str, ids))})"]

    def delete(self, name):
        t = self.tables[name]
        if not t["ids"]:
            return self.insert(name)
        i = self.rng.choice(sorted(t["ids"]))
        t["ids"].discard(i)
        return [f"DELETE FROM {self.q(name)} WHERE id = {i}"]

    def step(self):
        r = self.rng
        if len(self.tables) < 2 or r.random() < 0.05:
            self.nname += 1
            return self.create(f"t{self.nname}")
        name = r.choice(sorted(self.tables))
        t = self.tables[name]
        k = r.random()
        if k < 0.45:
            return r.choice([self.insert, self.insert, self.update, self.delete])(name)
        if k < 0.55:
            col = self.new_col()
            t["cols"].append(col)
            if r.random() < 0.5:
                d = self.value(col[1])
                return [f"ALTER TABLE {self.q(name)} ADD COLUMN `{col[0]}` {col[1]} DEFAULT "
                        f"{lit(d)}"]
            return [f"ALTER TABLE {self.q(name)} ADD COLUMN `{col[0]}` {col[1]}"]
        if k < 0.62 and len(t["cols"]) > 1:
            c, _ = t["cols"].pop(r.randrange(len(t["cols"])))
            return [f"ALTER TABLE {self.q(name)} DROP COLUMN `{c}`"]
        if k < 0.69 and t["cols"]:
            j = r.randrange(len(t["cols"]))
            old, ty = t["cols"][j]
            self.ncol += 1
            t["cols"][j] = (f"c{self.ncol}", ty)
            return [f"ALTER TABLE {self.q(name)} RENAME COLUMN `{old}` TO `c{self.ncol}`"]
        if k < 0.75:
            wide = [(j, c, ty) for j, (c, ty) in enumerate(t["cols"]) if WIDER.get(ty)]
            if wide:
                j, c, ty = r.choice(wide)
                t["cols"][j] = (c, WIDER[ty])
                return [f"ALTER TABLE {self.q(name)} MODIFY COLUMN `{c}` {WIDER[ty]}"]
            return self.insert(name)
        if k < 0.82:
            # a migration's drop-then-create: the same name, other columns, a new life
            del self.tables[name]
            return [f"DROP TABLE IF EXISTS {self.q(name)}"] + self.create(name) + \
                self.insert(name)
        if k < 0.88:
            self.nname += 1
            new = f"t{self.nname}"
            self.tables[new] = self.tables.pop(name)
            return [f"RENAME TABLE {self.q(name)} TO {self.q(new)}"]
        if k < 0.92:
            t["ids"].clear()
            return [f"TRUNCATE TABLE {self.q(name)}"]
        if k < 0.95 and len(self.tables) > 2:
            del self.tables[name]
            return [f"DROP TABLE {self.q(name)}"]
        return self.insert(name)


@pytest.fixture
def ddl_pipeline(stack, bin_dir, tmp_path, unique_name):
    yield from made_and_closed(
        lambda **kw: SysbenchPipeline(stack, bin_dir, tmp_path, unique_name, **kw))


@pytest.mark.parametrize("n", range(6 if LONG else 2))
def test_it_outside_generated_ddl_script(ddl_pipeline, n):
    t0 = time.monotonic()
    seed = int(os.environ.get("SHIFTLOG_SEED") or random.randrange(1 << 30))
    p = ddl_pipeline()
    script = Script(random.Random(seed), p.src)
    stmts = []
    while len(stmts) < (400 if LONG else 120):
        stmts += script.step()
    print(f"generated DDL script (seed {seed}): {len(stmts)} statements")
    p.start()
    with p.my.cursor() as c:
        for s in stmts:
            try:
                c.execute(s)
            except Exception as e:
                raise AssertionError(f"the script's own statement failed (a generator bug): "
                                     f"{s}: {e}") from None
    p.my.commit()
    assert sorted(p.tables()) == sorted(script.tables), (p.tables(), sorted(script.tables))
    try:
        t_conv = p.converge(timeout=180 if LONG else 120)
    except AssertionError as e:
        raise AssertionError(f"seed {seed}: {e}\nscript:\n" + ";\n".join(stmts)) from None
    assert_no_dlq(p.stack, p.topic)
    print(f"generated DDL script (seed {seed}): {len(stmts)} statements, "
          f"{len(script.tables)} tables at the end, targets equal {t_conv:.1f}s after it "
          f"{p.per_target}, total {time.monotonic() - t0:.1f}s")
