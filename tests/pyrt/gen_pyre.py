#!/usr/bin/env python3
"""Differential corpus for lib/lambda/pyre.c (Python re on PCRE2).

CPython 3.11 answers every case; see gen_pyfmt.py for the line format.
Results: exec -> list of group strings (null = did not take part) or null
for no match; split/findall -> lists; sub -> text; groups -> str(count).
re.error raised by re.compile is compared by class only ("loose": the
message names sre_parse positions that PCRE2 errors do not always have);
template errors and everything else are compared exactly.

Excluded on purpose (rectify raises a clean error or differs, see report):
variable-width look-behind alternatives (PCRE2 accepts (?<=a|bc)), \\N{...},
scoped (?a:...), repeat counts above 65535, re.IGNORECASE|re.ASCII on
non-ASCII letters, \\S inside classes against \\x1c-\\x1f, [\\w-a] ranges.
"""
import json
import random
import re
import signal
import sys
import warnings

warnings.simplefilter("ignore")
if sys.version_info[:2] != (3, 11):
    print("pyre differential: needs CPython 3.11, found %s; skipped" % sys.version.split()[0])
    sys.exit(77)

rng = random.Random(777)
cases = []


class Slow(Exception):
    """CPython's own backtracking blew up on a random pattern."""


def _alarm(signum, frame):
    raise Slow()


signal.signal(signal.SIGALRM, _alarm)


def run(entry, fn):
    try:
        out = fn()
        if "\\u0000" in json.dumps(out):
            return  # NUL cannot pass through the driver's JSON reader; unit tests cover it
        entry["out"] = out
    except Slow:
        raise
    except Exception as e:  # noqa: BLE001
        entry["exc"] = type(e).__name__
        entry["msg"] = str(e)
    cases.append(entry)


def groups_of(m):
    if m is None:
        return None
    return [m.group(0)] + list(m.groups())


def add_exec(pat, flags, subj):
    try:
        re.compile(pat, flags)
        loose = False
    except re.error:
        loose = True
    except Exception:  # noqa: BLE001
        loose = False
    for mode, fn in (("match", re.match), ("search", re.search), ("fullmatch", re.fullmatch)):
        e = {"f": mode, "pat": pat, "flags": flags, "s": subj}
        if loose:
            e["loose"] = True
        run(e, lambda fn=fn: groups_of(fn(pat, subj, flags)))


def add_iter(pat, flags, subj, repl=None, count=0, maxsplit=0):
    try:
        re.compile(pat, flags)
        loose = False
    except re.error:
        loose = True
    except Exception:  # noqa: BLE001
        loose = False
    base = {"pat": pat, "flags": flags, "s": subj}
    if loose:
        base["loose"] = True
    run(dict(base, f="findall"), lambda: [list(x) if isinstance(x, tuple) else x
                                          for x in re.findall(pat, subj, flags)])
    run(dict(base, f="split", maxsplit=maxsplit),
        lambda: re.split(pat, subj, maxsplit=maxsplit, flags=flags))
    if repl is not None:
        run(dict(base, f="sub", repl=repl, count=count),
            lambda: re.sub(pat, repl, subj, count=count, flags=flags))
    run(dict(base, f="groups"), lambda: str(re.compile(pat, flags).groups))


# ---- hand-written patterns ---------------------------------------------------
fixed = [
    (r"x*", 0, "abxd", "-"), (r"", 0, "abc", "-"), (r"a|", 0, "baac", "<\g<0>>"),
    (r"(a)|b", 0, "abab", r"[\1]"), (r"(a)(b)?", 0, "aab", r"\2\1"),
    (r"(?P<w>\w+)", 0, "hi there", r"\g<w>!"), (r"(\d+)", 0, "a1b22c333", r"<\g<1>>"),
    (r"\s+", 0, "a \t\nb\u2003c\x1cd", "_"), (r"\S+", 0, "a \x1fb\u00a0c", "[\g<0>]"),
    (r"\d", 0, "1\u0661\u0967x", "D"), (r"\d", re.A, "1\u0661x", "D"),
    (r"\w+", 0, "caf\u00e9 na\u00efve \u00b2x", "W"), (r"\w+", re.A, "caf\u00e9 x", "W"),
    (r"\bfoo\b", 0, "foo foobar barfoo foo", "X"), (r"\Bo", 0, "foo boo", "0"),
    (r"^a", re.M, "a\nab\na", "^"), (r"a$", re.M, "a\nba\na\n", "$"), (r"^", re.M, "a\nb\n", "^"),
    (r"$", 0, "a\n", "$"), (r"$", re.M, "a\nb\n", "$"), (r"a\Z", 0, "a\na", "Z"),
    (r"\Aa", 0, "aa", "A"), (r".", 0, "a\nb", "."), (r".", re.S, "a\nb", "."),
    (r"(?s).", 0, "a\nb", "."), (r"(?i)abc", 0, "ABC abc AbC", "x"),
    (r"abc", re.I, "ABC \u00c0", "x"), (r"\u00e0", re.I, "\u00c0\u00e0", "x"),
    (r"(?x) a b  # comment\n c", 0, "abc a b c", "X"), (r"a b", re.X, "ab", "X"),
    (r"[ ]a", re.X, " a", "X"), (r"a\ b", re.X, "a b", "X"), (r"(?x: a b )c", 0, "abc", "X"),
    (r"a{2}", 0, "aaaaa", "X"), (r"a{2,}", 0, "aaaaa", "X"), (r"a{,2}", 0, "aaaaa", "X"),
    (r"a{1,2}?", 0, "aaaaa", "X"), (r"a{,}", 0, "aaa", "X"), (r"a{}", 0, "a{}", "X"),
    (r"a{x}", 0, "a{x}", "X"), (r"a{1,2", 0, "a{1,2", "X"), (r"{", 0, "{", "X"),
    (r"a*+a", 0, "aaa", "X"), (r"(?>a+)a", 0, "aaa", "X"), (r"(?>a|ab)c", 0, "abc", "X"),
    (r"a++b", 0, "aab", "X"), (r"a?+a", 0, "a", "X"), (r"(a+)+b", 0, "aaab", "X"),
    (r"(?<=a)b", 0, "ab cb", "X"), (r"(?<!a)b", 0, "ab cb", "X"), (r"a(?=b)", 0, "ab ac", "X"),
    (r"a(?!b)", 0, "ab ac", "X"), (r"(a)\1", 0, "aa ab", "X"), (r"(?P<q>['\"]).*?(?P=q)", 0,
                                                                   "say 'hi' \"yo\"", "Q"),
    (r"(a)?(?(1)b|c)", 0, "ab c", "X"), (r"(?P<n>a)?(?(n)b|c)", 0, "ab c", "X"),
    (r"[a-c]+", 0, "abcd", "X"), (r"[^a-c]+", 0, "abcd", "X"), (r"[]a]+", 0, "]a]b", "X"),
    (r"[^]a]+", 0, "]a]b", "X"), (r"[a\]]+", 0, "a]b", "X"), (r"[\d\s]+", 0, "1 2x", "X"),
    (r"[\w.-]+@[\w.-]+", 0, "mail a.b-c@d.e now", "<\g<0>>"), (r"[\x41-\x43]+", 0, "ABCD", "X"),
    (r"[\u0041-\u0043]", 0, "ABCD", "X"), (r"\x41\u0042\U00000043", 0, "ABC", "X"),
    (r"\101\060", 0, "A0", "X"), (r"[\101]", 0, "A", "X"), (r"\t\n\r\f\v\a", 0,
                                                             "\t\n\r\f\v\x07", "X"),
    (r"\.\*\+\?\(\)\[\]\{\}\|\^\$\\", 0, ".*+?()[]{}|^$\\", "X"), (r"\-\#\ \&\~", 0,
                                                                    "-# &~", "X"),
    (r"\é", 0, "é", "X"), (r"é+", 0, "ééa", "X"), (r"[é-ë]+", 0, "éêëì", "X"),
    (r"😀|\U0001F600", 0, "x😀y", "X"), (r".", 0, "😀é", "<\g<0>>"),
    (r"[[:alpha:]]", 0, "a:[]", "X"), (r"(a|b)*c", 0, "ababc", r"\1"),
    (r"(?:a|b)*c", 0, "ababc", "X"), (r"(a)|(b)|(c)", 0, "abc", r"\1\2\3"),
    (r"(\w+)@(\w+)\.com", 0, "a@b.com c@d.com", r"\2 at \1"),
    (r"(?#comment)a", 0, "a", "X"), (r"a(?#comment)*", 0, "aaa", "X"),
    (r"(?i:a)b", 0, "Ab AB", "X"), (r"(?-i:a)b", re.I, "aB AB", "X"), (r"(?ms)^.$", 0,
                                                                          "a\nb", "X"),
    (r"\\", 0, "a\\b", r"\\\\"), (r"a", 0, "aaa", r"\n\t\\"), (r"a", 0, "aaa", r"\-\&"),
    (r"(a)", 0, "aaa", r"\g<1>0"), (r"(a)", 0, "aaa", r"\10"), (r"(a)", 0, "aaa", r"\060"),
    (r"(a)", 0, "aaa", r"\07\101"), (r"(a)", 0, "aaa", r"\g<0>"),
]
for pat, flags, subj, repl in fixed:
    add_exec(pat, flags, subj)
    add_iter(pat, flags, subj, repl)
    add_iter(pat, flags, subj, repl, count=1, maxsplit=1)
add_iter("a", 0, "bab", "x", count=-1, maxsplit=-1)

bad_patterns = [r"a**", r"a{1}{2}", r"*a", r"+", r"?", r"a|*", r"(*)", r"(?i)a(?m)b", r"a(?i)",
                r"\e", r"[\e]", r"(?P>x)", r"(?<n>a)", r"\8", r"(a)\2", r"(a\1)", r"[z-a]",
                r"x{2,1}", r"\u12", r"\x4", r"\U00110000", r"(?L)a", r"\p{L}", r"(?#x", r"(?P<1>a)",
                r"(?P=x)", r"\777", r"(", r")", r"(a", r"a)", r"[a", r"[", "\\", r"(?", r"(?z)",
                r"(?P", r"(?Px)", r"(?P<a>x)(?P<a>y)", r"\K", r"\R", r"\h", r"\G", r"\Q", r"\c",
                r"\o{1}", r"(?|a)", r"(?R)", r"(*FAIL)", r"(?'n'a)", r"(?-a:x)", r"^*", r"$+",
                r"\b?", r"(?P<n>a)(?P=n", r"(?(2)a|b)", r"(?()a)", r"a{99999999999}",
                r"(?i", r"(?i-", r"(?-:a)", "a\n(", r"(?x)\ "]
for pat in bad_patterns:
    add_exec(pat, 0, "abc")

bad_templates = [r"\g", r"\g<", r"\g<>", r"\g<1", r"\g<x>", r"\g<1x>", r"\g<5>", r"\5", r"\q",
                 "\\", r"\777", r"\g<-1>", "a\n\\q", r"\g<name>"]
for t in bad_templates:
    run({"f": "sub", "pat": "(a)(?P<name>b)?", "flags": 0, "s": "ab", "repl": t, "count": 0},
        lambda t=t: re.sub("(a)(?P<name>b)?", t, "ab"))

run({"f": "sub", "pat": "a", "flags": re.L, "s": "a", "repl": "", "count": 0},
    lambda: re.sub("a", "", "a", flags=re.L))
run({"f": "sub", "pat": "a", "flags": re.A | re.U, "s": "a", "repl": "", "count": 0},
    lambda: re.sub("a", "", "a", flags=re.A | re.U))

# ---- random patterns ----------------------------------------------------------
atoms = ["a", "b", "c", ".", r"\d", r"\w", r"\s", r"\W", r"\D", r"\S", "[ab]", "[^a]", "[a-c]",
         r"[\d_]", r"\b", "^", "$", "é", r"\.", r"\-", "x", "[é-ê]", r"\u00e9"]
quants = ["", "", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,3}", "{,2}", "{2,}?", "*+",
          "++"]


def rand_re(depth=0):
    n = rng.randint(1, 4)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.15 and depth < 2:
            inner = rand_re(depth + 1)
            kind = rng.choice(["(%s)", "(?:%s)", "(?P<g%d>%%s)" % rng.randint(0, 999),
                               "(?=%s)", "(?!%s)", "(?>%s)", "(%s|%s)" % ("%s", rand_re(depth + 1))])
            a = kind % inner
        elif r < 0.22 and depth < 2:
            a = "(?<=%s)" % rng.choice(["a", "b", "ab", r"\d", "[ab]"])
        else:
            a = rng.choice(atoms)
        if a not in ("^", "$", r"\b") and not a.startswith("(?<") and not a.startswith("(?=") \
                and not a.startswith("(?!"):
            a += rng.choice(quants)
        parts.append(a)
    s = "".join(parts)
    if rng.random() < 0.2:
        s += "|" + "".join(rng.choice(atoms) for _ in range(rng.randint(1, 2)))
    return s


alphabet = "aabbc xé1_-.\n\u00e9\u0301\u2003\x1c9AB"
for _ in range(450):
    pat = rand_re()
    # group names must be unique: renumber
    k = [0]

    def renum(m):
        k[0] += 1
        return "(?P<g%d>" % k[0]
    pat = re.sub(r"\(\?P<g\d+>", renum, pat)
    flags = rng.choice([0, 0, 0, re.I, re.M, re.S, re.A, re.I | re.M, re.X])
    if flags & re.A and flags & re.I:
        flags = re.A
    subj = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    repl = rng.choice(["", "-", r"\g<0>\g<0>", "<\\g<0>>", r"\\", "[\\g<0>]"])
    count, maxsplit = rng.choice([0, 0, 1, 2]), rng.choice([0, 0, 1])
    # Patterns on which CPython itself backtracks catastrophically are left
    # out: rectify stops those with LimitError (match limit), CPython hangs.
    mark = len(cases)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        add_exec(pat, flags, subj)
        add_iter(pat, flags, subj, repl, count=count, maxsplit=maxsplit)
    except Slow:
        del cases[mark:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)

out = sys.argv[1] if len(sys.argv) > 1 else "-"
fh = sys.stdout if out == "-" else open(out, "w", encoding="utf-8")
for c in cases:
    fh.write(json.dumps(c) + "\n")
if fh is not sys.stdout:
    fh.close()
