"""popgate train, classify and quarantine, as a person runs them.

Messages are generated here (two vocabularies, so the right answer is
known); quarantined messages are put into the store the way sync leaves
them (state spam, body committed), then released, confirmed and deleted
through the command line, and the database is checked for what each
promises: state, training counts, no double training.
"""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time

import tap

POPGATE = os.environ.get("POPGATE", "src/popgate")

SPAM_WORDS = "viagra casino jackpot winner pills cheap offer bonus lottery prize".split()
HAM_WORDS = "meeting agenda patch review kernel release minutes budget schedule draft".split()


def message(i, words, subject, sender):
    body = " ".join(words[(i + k) % len(words)] for k in range(40))
    return ("From: %s\r\nTo: user@example.org\r\nSubject: %s %d\r\nDate: Mon, 2 Dec 2024 10:00:00 +0000\r\n"
            "Message-ID: <%d.%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
            % (sender, subject, i, i, sender.split("@")[1], body))


def run(ctx, *args, stdin=None, ok=True):
    p = subprocess.run([POPGATE] + list(args) + ["-c", ctx["cfg"]], input=stdin, capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise AssertionError("popgate %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def setup():
    d = tempfile.mkdtemp(prefix="popgate-filter-")
    cfg = os.path.join(d, "popgate.ini")
    with open(cfg, "w") as f:
        f.write("[general]\nstate_dir = %s\n" % os.path.join(d, "state"))
    ctx = {"dir": d, "cfg": cfg, "db": os.path.join(d, "state", "popgate.db")}
    ctx["spam"], ctx["ham"] = [], []
    for i in range(30):
        for kind, words, subj, sender in (("spam", SPAM_WORDS, "WIN BIG", "promo@casino.example"),
                                          ("ham", HAM_WORDS, "Weekly meeting", "alice@work.example")):
            p = os.path.join(d, "%s-%02d.eml" % (kind, i))
            with open(p, "w", newline="") as f:
                f.write(message(i, words, subj, sender))
            ctx[kind].append(p)
    pw = os.path.join(d, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    run(ctx, "user", "add", "alice", "--password-file", pw)
    run(ctx, "account", "add", "mail", "--owner", "alice", "--host", "pop.example", "--login", "alice",
        "--password-file", pw)
    return ctx


def teardown(ctx):
    shutil.rmtree(ctx["dir"], ignore_errors=True)


def db(ctx):
    return sqlite3.connect(ctx["db"])


def totals(ctx):
    with db(ctx) as c:
        return c.execute("SELECT nspam, nham FROM bayes_meta").fetchone()


@tap.test
def train_counts_each_message_once(ctx):
    p = run(ctx, "train", "--spam", *ctx["spam"][:20])
    assert "trained 20 messages as spam" in p.stderr, p.stderr
    # --files-from - reads the names from standard input
    p = run(ctx, "train", "--ham", "--files-from", "-", stdin="".join(x + "\n" for x in ctx["ham"][:20]))
    assert "trained 20 messages as ham" in p.stderr, p.stderr
    assert totals(ctx) == (20, 20), totals(ctx)
    with db(ctx) as c:
        assert c.execute("SELECT count(*) FROM bayes_tokens").fetchone()[0] > 20


@tap.test
def classify_prints_path_verdict_score(ctx):
    files = ctx["spam"][20:25] + ctx["ham"][20:25]
    p = run(ctx, "classify", *files)
    lines = p.stdout.splitlines()
    assert len(lines) == len(files), p.stdout
    for f, line in zip(files, lines):
        path, verdict, score = line.split("\t")
        assert path == f
        assert 0.0 <= float(score) <= 1.0
        want = "spam" if "/spam-" in f else "ham"
        assert verdict == want, line


@tap.test
def classify_ranks_near_certain_spam(ctx):
    # a double cannot hold 1 - 1e-30: scores this close to 1 must still be
    # printed apart, ordered by their evidence, for ROC measurements. Plain
    # Fisher (every token independent evidence) takes these short test
    # messages that far.
    run(ctx, "filter", "set", "word_exponent", "1")
    run(ctx, "filter", "set", "mark_exponent", "1")
    try:
        weaker = os.path.join(ctx["dir"], "weaker.eml")
        with open(weaker, "w", newline="") as f:
            f.write(message(26, SPAM_WORDS[:-1], "WIN BIG", "promo@casino.example"))
        p = run(ctx, "classify", ctx["spam"][26], weaker)
    finally:
        run(ctx, "filter", "unset", "word_exponent")
        run(ctx, "filter", "unset", "mark_exponent")
    (_, v1, s1), (_, v2, s2) = [line.split("\t") for line in p.stdout.splitlines()]
    assert v1 == v2 == "spam", p.stdout
    assert 1.0 - 1e-8 < float(s2) < float(s1) < 1.0, p.stdout
    assert len(s1.rstrip("0")) >= 12, s1


@tap.test
def expire_forgets_old_tokens_of_single_messages(ctx):
    def counts():
        with db(ctx) as c:
            return [c.execute("SELECT count(*) FROM bayes_tokens WHERE spam + ham %s" % w).fetchone()[0]
                    for w in ("= 1", "> 1")]
    unique = os.path.join(ctx["dir"], "unique.eml")
    with open(unique, "w", newline="") as f:
        f.write(message(90, "quokka wombat platypus echidna dingo".split(), "Zoo notes", "keeper@zoo.example"))
    run(ctx, "train", "--ham", unique)
    single, common = counts()
    assert single > 0 and common > 0, (single, common)
    p = run(ctx, "filter", "expire")
    assert p.stdout == "0 tokens of single messages expired\n", p.stdout
    with db(ctx) as c:
        c.execute("UPDATE bayes_tokens SET last_seen = last_seen - 400")
        gen = c.execute("SELECT generation FROM bayes_meta").fetchone()[0]
    # 0 keeps them forever
    run(ctx, "filter", "set", "token_days", "0")
    assert run(ctx, "filter", "expire").stdout.startswith("0 tokens"), "token_days 0 must keep every token"
    run(ctx, "filter", "unset", "token_days")
    p = run(ctx, "filter", "expire")
    assert p.stdout == "%d tokens of single messages expired\n" % single, p.stdout
    assert counts() == [0, common], (counts(), common)
    assert totals(ctx) == (20, 21), "message totals stay"
    with db(ctx) as c:
        assert c.execute("SELECT generation FROM bayes_meta").fetchone()[0] > gen, "working sets must reload"
    # what remains still classifies
    p = run(ctx, "classify", ctx["spam"][27], ctx["ham"][27])
    assert [line.split("\t")[1] for line in p.stdout.splitlines()] == ["spam", "ham"], p.stdout
    # untraining a message whose tokens expired takes back only what is there
    run(ctx, "train", "--ham", "--untrain", unique)
    assert totals(ctx) == (20, 20) and counts() == [0, common], (totals(ctx), counts())


@tap.test
def classify_why_names_tokens(ctx):
    p = run(ctx, "classify", "--why", ctx["spam"][25])
    import json
    reasons = json.loads(p.stdout.split("\t")[3])
    tokens = [r["token"] for r in reasons if "token" in r]
    assert any(t in SPAM_WORDS for t in tokens), tokens


@tap.test
def classify_missing_file_fails(ctx):
    p = run(ctx, "classify", ctx["ham"][26], os.path.join(ctx["dir"], "nope.eml"), ok=False)
    assert p.returncode == 1
    assert p.stdout.count("\n") == 1 and "nope.eml" in p.stderr


@tap.test
def untrain_takes_training_back(ctx):
    run(ctx, "train", "--spam", ctx["spam"][29])
    assert totals(ctx) == (21, 20)
    p = run(ctx, "train", "--spam", "--untrain", ctx["spam"][29])
    assert "untrained 1 message as spam" in p.stderr, p.stderr
    assert totals(ctx) == (20, 20)


@tap.test
def train_progress_bar(ctx):
    p = run(ctx, "train", "--ham", "--progress", *ctx["ham"][20:24])
    assert "[" + "#" * 30 + "] 4/4" in p.stderr and "msg/s" in p.stderr, p.stderr
    run(ctx, "train", "--ham", "--untrain", *ctx["ham"][20:24])
    assert totals(ctx) == (20, 20)


@tap.test
def train_needs_a_class(ctx):
    p = run(ctx, "train", ctx["spam"][0], ok=False)
    assert p.returncode == 2 and "usage" in p.stderr


def quarantine(ctx, path, uidl, age=0):
    """Stores a message as sync leaves quarantined spam."""
    data = open(path, "rb").read()
    with db(ctx) as c:
        acc = c.execute("SELECT id FROM accounts").fetchone()[0]
        cur = c.execute("INSERT INTO messages (account_id, uidl, size, state, verdict, score, reasons, from_addr, "
                        "subject, date, fetched_at) VALUES (?, ?, ?, 'spam', 'spam', 0.99, ?, ?, ?, '', ?)",
                        (acc, uidl, len(data), '[{"token":"jackpot","prob":0.99,"spam":5,"ham":0}]',
                         "promo@casino.example", "WIN BIG " + uidl, int(time.time()) - age))
        mid = cur.lastrowid
        c.execute("INSERT INTO bodies (message_id, data) VALUES (?, ?)", (mid, data))
    return mid


def state(ctx, mid):
    with db(ctx) as c:
        return c.execute("SELECT state FROM messages WHERE id = ?", (mid,)).fetchone()[0]


@tap.test
def quarantine_list_and_show(ctx):
    ctx["q1"] = quarantine(ctx, ctx["ham"][27], "UIDL-A")
    ctx["q2"] = quarantine(ctx, ctx["spam"][27], "UIDL-B")
    p = run(ctx, "quarantine", "list")
    rows = [l.split("\t") for l in p.stdout.splitlines()]
    assert [r[0] for r in rows] == [str(ctx["q1"]), str(ctx["q2"])], p.stdout
    assert rows[0][1] == "alice/mail" and rows[0][5] == "WIN BIG UIDL-A", rows
    p = run(ctx, "quarantine", "show", str(ctx["q1"]))
    assert "uidl: UIDL-A" in p.stdout and "state: spam" in p.stdout
    assert '"token": "jackpot"' in p.stdout, p.stdout
    assert "Subject: Weekly meeting 27" in p.stdout     # the header block
    assert "agenda" not in p.stdout.split("Subject:")[1]  # but not the body


@tap.test
def release_shows_message_again_and_trains_ham(ctx):
    before = totals(ctx)
    p = run(ctx, "quarantine", "release", str(ctx["q1"]))
    assert "released" in p.stdout
    assert state(ctx, ctx["q1"]) == "released"
    with db(ctx) as c:
        hdrs = c.execute("SELECT added_headers FROM messages WHERE id = ?", (ctx["q1"],)).fetchone()[0]
    assert hdrs.startswith("X-Popgate-Verdict: released;") and "X-Spam" not in hdrs, hdrs
    with db(ctx) as c:
        assert c.execute("SELECT uidl FROM messages WHERE id = ?", (ctx["q1"],)).fetchone()[0] == "UIDL-A"
        assert c.execute("SELECT class FROM filter_training WHERE message_id = ?",
                         (ctx["q1"],)).fetchone()[0] == "ham"
    assert totals(ctx) == (before[0], before[1] + 1), totals(ctx)
    # not in the quarantine any more: a second release is refused, nothing trains twice
    p = run(ctx, "quarantine", "release", str(ctx["q1"]), ok=False)
    assert p.returncode == 1 and "no such message in the quarantine" in p.stderr
    assert totals(ctx) == (before[0], before[1] + 1)
    p = run(ctx, "quarantine", "list")
    assert str(ctx["q1"]) + "\t" not in p.stdout


@tap.test
def confirm_trains_spam_once(ctx):
    before = totals(ctx)
    run(ctx, "quarantine", "confirm", str(ctx["q2"]))
    assert state(ctx, ctx["q2"]) == "spam"
    assert totals(ctx) == (before[0] + 1, before[1])
    run(ctx, "quarantine", "confirm", str(ctx["q2"]))
    assert totals(ctx) == (before[0] + 1, before[1]), "confirming twice counts once"


@tap.test
def release_after_confirm_moves_the_training(ctx):
    before = totals(ctx)
    run(ctx, "quarantine", "release", str(ctx["q2"]))
    assert totals(ctx) == (before[0] - 1, before[1] + 1), totals(ctx)


@tap.test
def delete_keeps_upstream_by_default(ctx):
    mid = quarantine(ctx, ctx["spam"][28], "UIDL-C")
    run(ctx, "quarantine", "delete", str(mid))
    assert state(ctx, mid) == "gone"
    with db(ctx) as c:
        assert c.execute("SELECT count(*) FROM bodies WHERE message_id = ?", (mid,)).fetchone()[0] == 0
        c.execute("UPDATE accounts SET spam_delete_upstream = 1")
    mid = quarantine(ctx, ctx["spam"][28], "UIDL-D")
    run(ctx, "quarantine", "delete", str(mid))
    assert state(ctx, mid) == "deleted", "with the policy set, the next sync deletes it upstream"


@tap.test
def expire_deletes_old_quarantine(ctx):
    old = quarantine(ctx, ctx["spam"][26], "UIDL-OLD", age=31 * 86400)
    new = quarantine(ctx, ctx["spam"][26], "UIDL-NEW", age=86400)
    p = run(ctx, "quarantine", "expire")
    assert p.stdout.startswith("1 expired message deleted"), p.stdout
    assert state(ctx, old) in ("deleted", "gone") and state(ctx, new) == "spam"


@tap.test
def filter_settings_and_policy(ctx):
    p = run(ctx, "filter", "show")
    assert "spam_cutoff = 0.7\n" in p.stdout and "dnsbl_zones = (off)" in p.stdout, p.stdout
    assert "trained: " in p.stdout
    run(ctx, "filter", "set", "spam_cutoff", "0.95")
    assert "spam_cutoff = 0.95\n" in run(ctx, "filter", "show").stdout
    p = run(ctx, "filter", "set", "spam_cutoff", "1.5", ok=False)
    assert p.returncode == 2 and "from 0 to 1" in p.stderr
    assert run(ctx, "filter", "set", "no_such_key", "1", ok=False).returncode == 2
    run(ctx, "filter", "unset", "spam_cutoff")
    assert "spam_cutoff = 0.7\n" in run(ctx, "filter", "show").stdout
    p = run(ctx, "filter", "policy", "alice/mail", "--spam", "tag", "--quarantine-days", "7")
    assert "spam tag" in p.stdout and "kept 7 days" in p.stdout, p.stdout
    with db(ctx) as c:
        assert c.execute("SELECT spam_policy, quarantine_days FROM accounts").fetchone() == ("tag", 7)
    assert run(ctx, "filter", "policy", "alice/mail", "--spam", "drop", ok=False).returncode == 2
    run(ctx, "filter", "policy", "alice/mail", "--spam", "quarantine", "--quarantine-days", "30")


@tap.test
def quarantine_usage_errors(ctx):
    assert run(ctx, "quarantine", "frobnicate", ok=False).returncode == 2
    assert run(ctx, "quarantine", "release", "abc", ok=False).returncode == 1
    assert run(ctx, "quarantine", "show", ok=False).returncode == 2


if __name__ == "__main__":
    tap.run(setup, teardown)
