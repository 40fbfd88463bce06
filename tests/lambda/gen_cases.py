#!/usr/bin/env python3
"""Generate the differential corpus of the lambda language.

Prints JSON lines {"src": ..., "x": str|null, "row": {...}?, "family": ...}.
Deterministic (fixed seed). Every construct the language allows appears in
at least one family below; families combine hand-written templates with
randomly generated expressions so that the same construct is exercised on
many values, including the ones that make CPython raise.
"""
import json
import random
import sys

R = random.Random(20240611)

STRS = [
    "", " ", "hello", "  Hello World  ", "ABC def", "12.0 oz.", "$1,234.50", "03/15/2024",
    "2024-01-05", "a,b,,c", "foo_bar-baz", "Ünïcödé straße", "ΑΣ ΣΑΣ", "ǆemal ǅ", "İstanbul",
    "١٢٣", "½ ²", "\t tab\n", "line1\nline2\r\nline3\r", "xxx", "MiXeD CaSe 123", "-42", "+7",
    " 1_000 ", "0x1f", "3.14", "1e5", "inf", "nan", "-0.0", "abc123def", "a1b2c3",
    "John.Smith@Example.com", "(555) 123-4567", "O'Brien", 'say "hi"', "日本語テキスト",
    "emoji 😀 ok", "   ", "None", "True", "12", "007", "1,234,567", "N/A", "tab\tsep", "10%",
    "12:34:56", "Jan 5 2023", "ａｂｃ１２", "hello world foo bar", "a-b-c-d", "ß", "ﬁ", "Ǉ",
    "\u00a0nbsp\u2003", "abc\u0301", "MAC_OS", "they're bill's friends",
    "1 000,5", "  -3.5e-2  ", "1__0", "_1", "0b101", "0o17", "9" * 30, "١.٥", "Σ", "ΣΑ",
    "aΣ b", "ΌΣΟΣ", "été", "İ", "ﬀ", "ŉ", "\x1c\x1d", "a\u2028b\u2029c", "\x85x",
]
NUMSTRS = ["0", "1", "-1", "7", "-7", "2", "3", "10", "255", "-128", "12", "100", "99999999999",
           "123456789012345678901234567890", "-98765432109876543210", "3.5", "-2.25", "0.1",
           "1e10", "-0.0", "inf", "-inf", "nan", "1e308", "5e-324", "2.5", "0.5", "1.5", "-1.5"]
DATES = [("03/15/2024", "%m/%d/%Y"), ("2024-01-05", "%Y-%m-%d"), ("5 Jan 2023", "%d %b %Y"),
         ("January 5, 2023", "%B %d, %Y"), ("12:34:56", "%H:%M:%S"),
         ("2023-02-29", "%Y-%m-%d"), ("13/01/2024", "%m/%d/%Y"), ("1/2/99", "%m/%d/%y"),
         ("2024-03-10T08:05:01.250", "%Y-%m-%dT%H:%M:%S.%f"), ("10pm", "%I%p"),
         ("Mon 2024-01-01", "%a %Y-%m-%d"), ("2024-12-31 23:59", "%Y-%m-%d %H:%M"),
         ("not a date", "%Y"), ("2024-01-05 junk", "%Y-%m-%d"), ("+0130 2020", "%z %Y")]

cases = []


def add(family, src, x, row=None):
    c = {"family": family, "src": src, "x": x}
    if row is not None:
        c["row"] = row
    cases.append(c)


def pick(pool, k):
    return R.sample(pool, min(k, len(pool)))


def q(s):
    """A Python literal for str s (repr)."""
    return repr(s)


# ---------------------------------------------------------------- str methods
STR_METHOD_TEMPLATES = [
    "x.strip()", "x.lstrip()", "x.rstrip()", "x.strip('0 .')", "x.lstrip('-+')", "x.rstrip('%.')",
    "x.strip(None)", "x.lower()", "x.upper()", "x.title()", "x.capitalize()", "x.casefold()",
    "x.swapcase()", "x.replace('a', 'A')", "x.replace('', '|')", "x.replace('l', '', 1)",
    "x.replace('o', '0', -1)", "x.replace(' ', '', 2)", "x.split()", "x.split(',')",
    "x.split(None, 1)", "x.split(' ', 2)", "x.split(sep='-')", "x.split(maxsplit=1)",
    "x.rsplit()", "x.rsplit(None, 1)", "x.rsplit(',', 1)", "x.rsplit(sep=' ', maxsplit=2)",
    "x.split('')", "x.splitlines()", "x.splitlines(True)", "x.splitlines(keepends=True)",
    "'-'.join(x)", "', '.join(x.split())", "''.join(reversed(x))", "x.zfill(8)", "x.zfill(-1)",
    "x.center(11)", "x.center(12, '*')", "x.ljust(10, '.')", "x.rjust(9)", "x.rjust(3, 'ab')",
    "x.startswith('a')", "x.startswith(('h', 'A', ''))", "x.startswith('l', 2)",
    "x.startswith('', 99)", "x.endswith('.')", "x.endswith(('d', 'o'), 0, 5)",
    "x.endswith('c', -3, -1)", "x.find('o')", "x.find('l', 3)", "x.find('', 50)",
    "x.rfind('o')", "x.rfind('l', 0, -2)", "x.index('l')", "x.rindex('o')",
    "x.count('l')", "x.count('')", "x.count('a', 1, 5)", "x.count('', 3, 1)",
    "x.removeprefix('he')", "x.removesuffix('d')", "x.removeprefix('')", "x.partition(' ')",
    "x.rpartition(' ')", "x.partition('')", "x.isdigit()", "x.isalpha()", "x.isalnum()",
    "x.isspace()", "x.islower()", "x.isupper()", "x.istitle()", "x.isdecimal()",
    "x.isnumeric()", "x.isascii()", "x.isidentifier()", "x.isprintable()",
    "x.expandtabs()", "x.expandtabs(4)", "x.strip().split(',')[0].upper()",
    "x.find(1)", "x.strip(5)", "x.startswith(1)", "x.zfill('3')", "x.center(5, '')",
    "x.count('l', None, None)", "x.split(None, -1)", "x.split(1)", "x.join('abc')",
    "x.join(['a', 1])", "x.upper(1)", "x.index('zzz')", "x.lower().title().swapcase()",
]
for t in STR_METHOD_TEMPLATES:
    for s in pick(STRS, 8):
        add("strmethod", "lambda x: " + t, s)

# ---------------------------------------------------------------- builtins
BUILTIN_TEMPLATES = [
    ("str(x)", STRS), ("str()", STRS[:2]), ("int(x)", NUMSTRS + STRS), ("float(x)", NUMSTRS + STRS),
    ("int(x, 16)", ["ff", "0xFF", "-0x1_0", "g", "1_0", " 7 ", "0b1"]),
    ("int(x, 0)", ["0x10", "0o7", "0b11", "10", "010", "0", "00", "1_000", "0_7"]),
    ("int(x, base=2)", ["101", "0b101", "2", "-1_1"]), ("int(x, 37)", ["1"]),
    ("int(float(x))", NUMSTRS), ("bool(x)", STRS[:10]), ("bool(int(x))", ["0", "1", "-3"]),
    ("len(x)", STRS), ("len(x.split())", STRS), ("round(float(x))", NUMSTRS),
    ("round(float(x), 1)", NUMSTRS), ("round(float(x), 2)", NUMSTRS), ("round(float(x), -1)", NUMSTRS),
    ("round(int(x), -2)", ["1250", "1350", "-1250", "149", "150", "0", "99999999999999999999"]),
    ("round(float(x), 0)", NUMSTRS), ("round(number=float(x), ndigits=3)", NUMSTRS[:8]),
    ("round(x)", ["a"]), ("round(1.5, 1.0)", ["a"]),
    ("abs(int(x))", NUMSTRS[:12]), ("abs(float(x))", NUMSTRS), ("abs(x)", ["s"]),
    ("min(x)", STRS[:20]), ("max(x)", STRS[:20]), ("min(x.split())", STRS), ("max(x.split(), default='-')", STRS),
    ("min(len(x), 5, 3)", STRS[:5]), ("max(1, 2.0, True)", ["a"]), ("max(1, 'a')", ["a"]),
    ("min([], default=None)", ["a"]), ("min([])", ["a"]), ("max(x, default=1)", ["a"]),
    ("sorted(x)", STRS[:25]), ("sorted(x.split(), reverse=True)", STRS), ("sorted([3, 1.5, True, -2])", ["a"]),
    ("sorted([1, 'a'])", ["a"]), ("sum([1, 2.5, True])", ["a"]), ("sum(int(c) for c in x if c.isdigit())", STRS),
    ("sum([[1], [2]], [])", ["a"]), ("sum(['a'], '')", ["a"]), ("sum([1, 2], start=10)", ["a"]),
    ("any(c.isdigit() for c in x)", STRS), ("all(c.isalpha() for c in x)", STRS), ("any([])", ["a"]),
    ("all(x.split())", STRS[:10]), ("list(x)", STRS[:20]), ("tuple(x)", STRS[:20]), ("list()", ["a"]),
    ("tuple(x.split(','))", STRS[:10]), ("list(c.upper() for c in x)", STRS[:10]),
    ("format(x)", STRS[:5]), ("format(x, '>10')", STRS[:10]), ("format(float(x), '.2f')", NUMSTRS),
    ("format(int(x), ',')", NUMSTRS[:15]), ("format(int(x), 'x')", NUMSTRS[:12]),
    ("format(float(x), 'e')", NUMSTRS), ("format(float(x), '%')", NUMSTRS[:10]), ("format(True, 'd')", ["a"]),
    ("format(None)", ["a"]), ("format([1], 's')", ["a"]), ("repr(x)", STRS), ("ascii(x)", STRS),
    ("list(range(len(x)))", STRS[:10]), ("[i for i in range(0, 10, 3)]", ["a"]),
    ("[i for i in range(10, 0, -2)]", ["a"]), ("len(x) in range(3, 8)", STRS[:10]),
    ("list(enumerate(x))", STRS[:8]), ("list(enumerate(x.split(), start=1))", STRS[:8]),
    ("[f'{i}:{c}' for i, c in enumerate(x)]", STRS[:8]), ("list(zip(x, x[1:]))", STRS[:8]),
    ("[a + b for a, b in zip(x, reversed(x))]", STRS[:8]), ("list(reversed(x.split()))", STRS[:8]),
    ("tuple(reversed(range(4)))", ["a"]), ("sorted(set)", ["a"]) if False else ("sorted(x, reverse=1)", STRS[:5]),
    ("str(1e16) + str(1.5e-5) + str(0.1 + 0.2) + str(-0.0)", ["a"]),
    ("int(x) if x.isdigit() else None", STRS), ("float(x) * 2", NUMSTRS),
    ("int(x) // 7", NUMSTRS[:15]), ("str(int(x) ** 5)", NUMSTRS[:15]),
]
for t, pool in BUILTIN_TEMPLATES:
    for s in pick(pool, 8):
        add("builtin", "lambda x: " + t, s)

# ---------------------------------------------------------------- random arithmetic
INT_LITS = ["0", "1", "2", "3", "7", "10", "13", "255", "-1", "-7", "(2**62)", "(2**64)", "(-2**63)",
            "(10**20)", "0x1f", "0o17", "0b101", "1_000", "True", "False"]
FLOAT_LITS = ["0.0", "-0.0", "0.5", "1.5", "2.5", "-2.5", "0.1", "3.14159", "1e16", "1e-5",
              "1e308", "float('inf')", "float('-inf')", "float('nan')", "7.0", "-7.0", "123456.789"]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]
CMPS = ["==", "!=", "<", "<=", ">", ">="]


def rand_num(depth):
    if depth <= 0 or R.random() < 0.4:
        return R.choice(INT_LITS + FLOAT_LITS)
    k = R.random()
    if k < 0.7:
        op = R.choice(BINOPS)
        a, b = rand_num(depth - 1), rand_num(depth - 1)
        if op == "**":
            b = R.choice(["0", "1", "2", "3", "-1", "-2", "0.5", "2.0", "10", "63", "64"])
        if op in ("<<",):
            b = R.choice(["0", "1", "3", "63", "64", "-1", "100"])
        return "(%s %s %s)" % (a, op, b)
    if k < 0.85:
        return "(%s%s)" % (R.choice(["-", "+", "~", "not "]), rand_num(depth - 1))
    return "(%s %s %s)" % (rand_num(depth - 1), R.choice(CMPS), rand_num(depth - 1))


for _ in range(450):
    add("arith", "lambda x: " + rand_num(3), "a")
# chained comparisons and boolean ops
for _ in range(120):
    parts = [rand_num(1) for _ in range(R.randint(2, 4))]
    expr = parts[0]
    for p in parts[1:]:
        expr += " %s %s" % (R.choice(CMPS + ["and", "or"]), p)
    add("compare", "lambda x: " + expr, "a")
for a in ["x", "x.split()", "len(x)", "[1, 2]", "(1, 'a')", "None", "x[:1]", "0.0", "''"]:
    for b in ["x", "'a'", "[]", "(1,)", "1", "True", "None"]:
        for op in ["and", "or"]:
            add("boolop", "lambda x: %s %s %s" % (a, op, b), R.choice(STRS))
        add("ifexp", "lambda x: %s if %s else %s" % (a, b, "'no'"), R.choice(STRS))
for t in ["x is None", "x is not None", "None is x", "(x or None) is None", "not x",
          "not not x", "x.isdigit() is True", "bool(x) is False", "x == None"]:
    add("identity", "lambda x: " + t, None)
    add("identity", "lambda x: " + t, "")
    add("identity", "lambda x: " + t, "abc")
# comparisons of mixed types
for a, b in [("'a'", "'b'"), ("'abc'", "'ab'"), ("[1, 2]", "[1, 3]"), ("(1, 2)", "(1, 2, 0)"),
             ("[1, 'a']", "[1, 'b']"), ("1", "1.0"), ("2**53 + 1", "2.0**53"), ("'a'", "1"),
             ("[1]", "(1,)"), ("None", "None"), ("float('nan')", "float('nan')"),
             ("10**30", "1e30"), ("[[1]]", "[[1.0]]"), ("True", "1")]:
    for op in CMPS:
        add("compare", "lambda x: %s %s %s" % (a, op, b), "a")
# membership
for t in ["'a' in x", "'' in x", "x in 'hello world'", "'b' not in x", "1 in [1.0, 2]",
          "[1] in [[1], 2]", "x in x.split()", "1 in x", "'a' in 5", "c in x for c in 'ab'",
          "x[0] in 'aeiou'", "(1, 2) in [(1, 2)]", "3 in range(5)", "5 in range(0, 10, 2)",
          "'x' in range(3)"]:
    if " for " in t:
        t = "[%s]" % t
    for s in pick(STRS[:30], 4):
        add("membership", "lambda x: " + t, s)

# ---------------------------------------------------------------- indexing and slicing
IDX = ["0", "1", "-1", "2", "-3", "5", "100", "-100", "True"]
SL = ["", "0", "1", "-1", "2", "-2", "5", "100", "-100", "None"]
for _ in range(220):
    s = R.choice(STRS)
    seq = R.choice(["x", "x.split()", "list(x)", "tuple(x)", "x.split(',')"])
    if R.random() < 0.35:
        t = "%s[%s]" % (seq, R.choice(IDX))
    else:
        a, b, c = R.choice(SL), R.choice(SL), R.choice(["", "1", "2", "-1", "-2", "3", "0", "None"])
        t = "%s[%s:%s%s]" % (seq, a, b, (":" + c) if R.random() < 0.6 else "")
    add("index", "lambda x: " + t, s)
for t in ["x['a']", "x[1.0]", "x[None]", "x[1, 2]", "x.split()[::-1]", "x[::-1]", "x[-1:-4:-1]",
          "(1, 2, 3)[1:]", "[1, 2, 3][-2]", "'abc'[10**20:]", "x[:10**20]", "x[::0]"]:
    for s in pick(STRS[:40], 4):
        add("index", "lambda x: " + t, s)

# ---------------------------------------------------------------- sequences and repetition
for t in ["x * 3", "3 * x", "x * 0", "x * -1", "x + '!'", "x + 1", "[x] * 2", "[1, 2] + [3]",
          "(1,) + (2,)", "[1] + (2,)", "x * 2.0", "x * True", "(x, len(x))", "[x, [x]]", "()",
          "[]", "(x,)", "[1, 2, 3] * 2", "[] * 5", "x.split() + ['end']", "str([x, 1.5, None, True])",
          "str((x,))", "[x][0]", "str([1.0, -0.0, 1e100])", "str(['a\\'b', 'c\"d'])"]:
    for s in pick(STRS, 4):
        add("sequence", "lambda x: " + t, s)

# ---------------------------------------------------------------- comprehensions
COMPS = [
    "[c for c in x]", "[c.upper() for c in x if c.isalpha()]", "[c for c in x if c.isdigit() if c != '0']",
    "[w[::-1] for w in x.split()]", "[a + b for a in x[:3] for b in x[:2]]",
    "[(i, w) for i, w in enumerate(x.split())]", "[len(w) for w in x.split(',') if w]",
    "''.join(c for c in x if c.isalnum())", "''.join([c for c in x if not c.isspace()])",
    "' '.join(w.capitalize() for w in x.split())", "sum(1 for c in x if c in 'aeiou')",
    "max((len(w) for w in x.split()), default=0)", "min(c for c in x)", "sorted(c for c in x if c.isalpha())",
    "[c for c in x for c in c * 2]", "[x for x in x]", "[[c for c in w] for w in x.split()]",
    "tuple(c for c in x if c > 'm')", "[int(c) for c in x]", "[c for c in x if int(c)]",
    "any(int(c) > 5 for c in x)", "all(c.isdigit() for c in x) and len(x) > 0",
    "[a for a, b in zip(x, x[1:]) if a == b]", "[i for i in range(len(x)) if x[i] == 'l']",
    "[p for p in x.partition(' ')]", "[s.strip() for s in x.splitlines()]",
    "[y for y in [x, x.upper(), x.lower()] if y != x]", "[(a, b) for (a, b) in [(1, 2), (3, 4)]]",
    "[a for a, b in [(1, 2), (3,)]]", "[a for a, in [(1,), (2,)]]", "[a for [a, b] in ['ab', 'cd']]",
    "[a for a, b in [1, 2]]", "[c for c in 5]", "[k for k in x.split(':') if k.strip()]",
]
for t in COMPS:
    for s in pick(STRS, 6):
        add("comprehension", "lambda x: " + t, s)

# ---------------------------------------------------------------- formatting
SPECS = ["", ">10", "<8", "^9", "*^11", "=+8", "+", "-", " ", "08.3f", ".2f", ".0f", ".3e", ".2E", "g",
         ".3g", "#.3g", "G", ".1%", ",", "_", ",.2f", "x", "#x", "X", "#o", "b", "#b", "_b", "d", "n",
         "c", "s", ">+10.2f", "010", "^+#10x", ".0e", "z.1f", "10.4", ".3", "e", "%", "q", ",d",
         "_x", ".5s", ">5.2s"]
VALS = ["x", "len(x)", "-len(x)", "float(len(x)) / 7", "-0.0", "1e16", "12345678.9", "True", "None",
        "2**70", "float('nan')", "float('-inf')", "0.000012345", "255", "-255", "[1]", "65"]
for _ in range(330):
    v, sp = R.choice(VALS), R.choice(SPECS)
    form = R.choice(["f'{%s:%s}'" % (v, sp), "format(%s, %r)" % (v, sp), "'{:%s}'.format(%s)" % (sp, v)])
    add("format", "lambda x: " + form, R.choice(STRS[:30]))
FSTR = [
    "f'{x}'", "f'{x!r}'", "f'{x!s:>12}'", "f'{x!a}'", "f'<{x:{len(x)}}>'", "f'{x:{\"*\"}^{9}}'",
    "f'{{{x}}}'", "f'{x}{{}}'", "f'{len(x):03d}-{x.upper()}'", "f'{x[::-1]}'", "f'{x, len(x)}'",
    "f'''{x}\\n'''", "rf'\\d{x}'", "f'{\"q\" + x}'", "f'a' 'b' f'{x}'", "'lit' f'{x}' \"more\"",
    "f'{x:}'", "f'{3.14159:.{len(x)}f}'", "f'{x if x else \"empty\"}'", "f'{[c for c in x][:2]}'",
    "f'{x!r:^20}'", "f'{1+1}'", "f'{x:>{20}.{3}}'", "f'\\N{BULLET} {x}'", "f'{x:\\N{BULLET}^7}'",
    "'{}-{}'.format(x, len(x))", "'{1}{0}'.format(x, 'z')", "'{a}:{b!r}'.format(a=x, b=1.5)",
    "'{0[0]}'.format(x)", "'{0[1]}'.format(x.split())", "'{x[a]}'.format(x={'a': 1})" if False else "'{:{}}'.format(x, 8)",
    "'{:>{w}}'.format(x, w=10)", "'{}{}'.format(x)", "'{0}{}'.format(x, x)", "'{'.format(x)",
    "'}'.format(x)", "'{!z}'.format(x)", "'{:d}'.format(x)", "'{:s}'.format(5)", "'{2}'.format(x)",
    "'{k}'.format(x)", "'{0:{1}{2}}'.format(x, '>', 9)", "'{!r:>9}'.format(x)", "'{:}'.format(x)",
    "'{0!s}{0!a}'.format(x)", "'x{{}}y'.format()",
    "'%s' % x", "'%r' % x", "'%a' % x", "'%5s|%-5s|' % (x, x)", "'%d' % len(x)", "'%05d' % -len(x)",
    "'%+.3f' % 3.14159", "'%x %X %o' % (255, 255, 8)", "'%#x %#o' % (255, 8)", "'%e' % 12345.678",
    "'%g %G' % (0.00001234, 1e20)", "'%c%c' % (65, 'z')", "'%%%s%%' % x", "'%s %s' % (x,)",
    "'%s' % (x, x)", "'%d' % x", "'%d' % 3.99", "'%i' % True", "'%.2s' % x",
    "'%(a)s' % x", "'%s' % [x]", "'%s' % (x,)", "'%f' % 'a'", "'%x' % 2.0", "'%.0f %.0f' % (0.5, 1.5)",
    "'%10.4f|' % -2.5", "'%-+8d|' % 42", "'% d' % 42", "'%s' % None", "'%q' % 1", "'%' % ()",
    "'%s %s' % [1, 2]", "'%.3e' % 0", "'%5.1%' % ()",
]
for t in FSTR:
    for s in pick(STRS[:40], 4):
        add("fstring", "lambda x: " + t, s)

# ---------------------------------------------------------------- re
RE_TEMPLATES = [
    "re.sub(r'[^0-9.]', '', x)", "re.sub(r'\\s+', ' ', x).strip()", "re.sub('a|e', '_', x, count=1)",
    "re.sub(r'(\\w)(\\w*)', r'\\2\\1', x)", "re.sub(r'(?P<d>\\d)', r'<\\g<d>>', x)",
    "re.sub('x*', '-', x)", "re.sub('', '.', x)", "re.sub('L', 'l', x, flags=re.I)",
    "re.sub(r'^\\s+|\\s+$', '', x, flags=re.M)", "re.sub(r'(\\d+)', r'\\g<1>0', x)",
    "re.sub(pattern=r'o', repl='0', string=x)", "re.sub(r'\\d', '#', x, 2, re.A)",
    "re.sub(r'\\w', '*', x, flags=re.ASCII)", "re.sub(r'\\w', '*', x)", "re.sub(r'(a)', r'\\2', x)",
    "re.sub('[', '', x)", "re.sub(r'\\q', '', x)", "re.sub('o', '\\\\n', x)", "re.sub(r'.', r'\\n', x[:3])",
    "re.match(r'\\d+', x)", "re.match(r'(\\w+) (\\w+)', x).groups()", "bool(re.match(r'[A-Z]', x))",
    "re.match(r'(?P<first>\\w+)\\W*(?P<rest>.*)', x).groupdict()",
    "re.search(r'\\d+', x).group()", "re.search(r'(\\d)(\\d)?', x).group(0, 1, 2)",
    "re.search(r'(?P<n>\\d+)', x).group('n')", "re.search(r'(\\d+)', x)[1]",
    "re.search(r'o', x).span()", "re.search(r'o', x).start()", "re.search(r'(x)?o', x).end(1)",
    "re.fullmatch(r'\\d+', x)", "re.fullmatch(r'[\\w.]+@[\\w.]+', x) is not None",
    "re.fullmatch(r'(?i)hello', x)", "re.search('world', x, re.IGNORECASE)",
    "re.search(r'^line2$', x, re.M)", "re.search(r'1.line', x, re.S)", "re.search(r'1.line', x)",
    "re.search(r''' \\d  # digit\n ''', x, re.X)", "re.findall(r'\\d', x)", "re.findall(r'(\\w)(\\d)', x)",
    "re.findall(r'(\\w)\\d', x)", "re.findall(r'[aeiou]', x, re.I)", "re.split(r'[,\\s]+', x)",
    "re.split(r'(,)', x)", "re.split(r'\\s', x, maxsplit=1)", "re.split(r'(a)|b', x)",
    "re.split('x*', x)", "str(re.match('h', x))", "re.match('(', x)", "re.search(r'\\d+', x) or 'none'",
    "[m for m in re.findall(r'\\w+', x) if len(m) > 2]", "re.sub(r'\\bfoo\\b', 'X', x)",
    "re.sub(r'(?<=\\d),(?=\\d)', '', x)", "re.search(r'(\\d+)\\.(\\d+)', x).group(3)",
    "re.match(r'\\Ahello\\Z', x)", "re.sub(r'[\\u00e0-\\u00ff]', '?', x)", "re.findall(r'\\S+', x)",
    "re.sub(r'(?i)[a-c]', '', x)", "re.search(r'[^\\x00-\\x7f]', x)", "re.sub(r'(\\d{3})(?=\\d)', r'\\1,', x)",
    "re.sub('a', 'b', x, count=-1)", "re.split(',', x, -1)", "re.match(x, 'hello')",
]
for t in RE_TEMPLATES:
    for s in pick(STRS, 6):
        add("re", "lambda x: " + t, s)
dyn_pats = [r"\d+", "[a-z]+", "(", "a{2,}", "x|y", r"\w+@\w+", r"(?P<a>.)\1"]
for p in dyn_pats:
    for s in pick(STRS, 3):
        add("re", "lambda x: re.findall(x, %r)" % s, p)

# ---------------------------------------------------------------- datetime
DT_TEMPLATES = [
    "datetime.strptime(x, FMT)", "datetime.strptime(x, FMT).strftime('%Y-%m-%d')",
    "datetime.strptime(x, FMT).isoformat()", "datetime.strptime(x, FMT).date()",
    "str(datetime.strptime(x, FMT).date())", "datetime.strptime(x, FMT).date().isoformat()",
    "datetime.strptime(x, FMT).weekday()", "datetime.strptime(x, FMT).isoweekday()",
    "(datetime.strptime(x, FMT).year, datetime.strptime(x, FMT).month, datetime.strptime(x, FMT).day)",
    "datetime.strptime(x, FMT).hour * 60 + datetime.strptime(x, FMT).minute",
    "datetime.strptime(x, FMT).second + datetime.strptime(x, FMT).microsecond",
    "datetime.strptime(x, FMT).strftime('%d/%m/%Y %H:%M')", "datetime.strptime(x, FMT).strftime('%A %B %j %U')",
    "datetime.strptime(x, FMT).replace(year=2000)", "datetime.strptime(x, FMT).replace(2001, 2, 28)",
    "datetime.strptime(x, FMT).replace(month=13)", "datetime.strptime(x, FMT).date().replace(day=1)",
    "f'{datetime.strptime(x, FMT):%Y/%m}'", "format(datetime.strptime(x, FMT), '%b %d')",
    "datetime.datetime.strptime(x, FMT).strftime('%y%m%d')", "[datetime.strptime(x, FMT)]",
    "datetime.strptime(x, FMT) == datetime.strptime(x, FMT)", "datetime.strptime(x, FMT).date().hour",
    "datetime.strptime(x, FMT).isoformat(' ')", "datetime.strptime(x, FMT).date().strftime('%Y %H')",
    "datetime.strptime(x, FMT) < datetime.strptime('2100', '%Y')",
]
for t in DT_TEMPLATES:
    for s, f in DATES:
        add("datetime", "lambda x: " + t.replace("FMT", repr(f)), s)
add("datetime", "lambda x: datetime.strptime(x, 5)", "a")
add("datetime", "lambda x: datetime.strptime(x)", "a")

# ---------------------------------------------------------------- row
ROWS = [{"city": "Paris", "zip": "75001", "n": 3, "price": 2.5, "ok": True, "none": None,
         "tags": ["a", "b"], "nested": {"k": "v"}},
        {"city": "  lyon ", "n": -1, "first": "Ann", "last": "Lee"}, {}]
ROW_TEMPLATES = [
    "row['city']", "row.get('city', '')", "row.get('missing')", "'city' in row", "'zip' not in row",
    "len(row)", "row['n'] + 1", "row['price'] * 2", "row['ok']", "row['none'] is None", "row['tags'][1]",
    "row['nested']['k']", "row['missing']", "row[0]", "row[['a']]", "row.get('n', 0) * 2",
    "f\"{row.get('first', '')} {row.get('last', '')}\".strip()", "x or row.get('city')",
    "str(row)", "sorted(row)", "[k for k in row if k.startswith('c')]", "row.get('city', x).strip().title()",
    "row.get()", "row.keys()" if False else "row.get('tags', [])[:1]", "x + row.get('zip', '?')",
    "{**row}" if False else "row == row", "row.strip()",
]
for t in ROW_TEMPLATES:
    for r in ROWS:
        add("row", "lambda x, row: " + t, R.choice(["abc", "", "12"]), r)
add("row", "lambda v, r: r.get('city', v)", "fallback", {"x": 1})

# ---------------------------------------------------------------- attribute errors on the wrong receiver
for t in ["x.split().strip()", "len(x).upper()", "(1, 2).count(1)", "[1, 2, 1].count(1)",
          "[1, 2].index(2)", "(1, 2).index(3)", "[1].index(1, 5)", "x.group()", "None.strip()",
          "x.split()[0].year", "(1.5).lower()", "re.match('a', 'a').strip()", "re.match('a', 'a').year",
          "x.date()", "x.get('a')", "[].get(1)", "datetime.strptime('2020', '%Y').lower()",
          "x.isoformat()", "(5).replace(1, 2)"]:
    add("attr", "lambda x: " + t, "abc def")

# ---------------------------------------------------------------- literals
LITS = ["'a\\tb\\n'", "'\\x41\\u00e9\\U0001F600'", "'\\101\\7'", "r'\\n\\d'", "'\\N{EM DASH}'",
        "'\\N{LATIN SMALL LETTER A}'", "\"dq'\"", "'''tri\nple'''", "'a' 'b' 'c'", "u'x'", "R'\\x'",
        "'\\q'", "'\\\\'", "1_000_000", "0xFF", "0o777", "0b1010", "1.5e3", "1_0.0_1", ".5", "5.",
        "1e-7", "0e0", "00", "0_0", "123456789012345678901234567890", "2**100 // 3**20",
        "-2**63 - 1", "0.1 + 0.2", "1e400", "-1e400", "1/3", "2/3", "10**15 / 3", "(2**64 + 1) / 2",
        "10**30 / 7", "-(10**25) / 3", "7 // -2.0", "-7 % 2.5", "-0.0 % 5", "5 % -0.0" if False else "5.5 // 0.5",
        "True + True", "True * 3.0", "~5", "-True", "2 ** -2", "(-2) ** 3", "(-8) ** 0.5" if False else "(-2.0) ** 2",
        "0 ** 0", "0.0 ** 0", "1 << 70", "-1 >> 100", "-(2**70) >> 3", "2**70 & 2**69 - 1",
        "True | False", "True ^ True", "True & 2", "1 / 0", "1 // 0", "1 % 0", "1.0 / 0", "2.0 ** 10000",
        "10 ** -400", "0 ** -1", "1 << -1", "int('9' * 5000)", "str(10 ** 5000)", "2 ** 0.5",
        "float('1e400')", "int(float('inf'))", "int(float('nan'))", "round(float('inf'))",
        "round(1e300, -300)", "round(123.456, -400)", "round(0.5)", "round(1.5)", "round(-2.5)",
        "round(2.675, 2)", "round(1.0000000000000002, 15)", "round(5e-324, 400)", "float('1_0')",
        "float('1__0')", "float(' 12 ')", "float('١٢.٥')", "int('٣')", "int(' -0 ')", "int('+_1')",
        "float('.5e+2')", "float('5.')", "float('e5')", "float('0x10')", "float('Infinity')",
        "float('-nan')", "float('inF')", "int('1' * 4300)", "int('1' * 4301)"]
for t in LITS:
    add("literal", "lambda x: " + t, "a")

# ---------------------------------------------------------------- misc syntax: whitespace, comments, line joins
for t in ["lambda x: (x\n .strip()\n .upper())", "lambda x: x  # comment", "lambda x: [\n1,\n2]",
          "lambda x: x.upper() \\\n + '!'", "\nlambda x: x", "lambda x:x", "lambda  x ,  row : x",
          "lambda x, r: len(r)", "lambda s: s * 2", "lambda str: str.upper()", "lambda x: (lambda_ := 1)" if False else "lambda x: (x)",
          "lambda x: ((((x))))", "lambda x: x[(1)]", "lambda x: (1, 2, 3)[1:]", "lambda x: [1, 2,]",
          "lambda x: (1,)", "lambda x: ()"]:
    add("syntax", t, "hi")

# ---------------------------------------------------------------- None input
for t in ["x", "str(x)", "x is None", "x or 'default'", "len(x)", "x.strip()", "[x]", "f'{x}'",
          "'%s' % x", "x == None", "bool(x)", "repr(x)", "x + 'a'", "x[0]", "int(x)", "float(x)"]:
    add("none", "lambda x: " + t, None)

# ---------------------------------------------------------------- Unicode case and classes
UNI = ["Straße", "ǅungla", "ǆ", "ΣΑΣ ΑΣ", "ὈΔΥΣΣΕΎΣ", "İi", "ﬁne", "ŉ", "Ǳ", "ᾳ", "Ω ω", "ǈ ǉ Ǉ",
       "ᾼ", "ß ẞ", "aΣ", "Σa", "Σ", "a.Σ", "Å", "Ⅷ", "ⅷ", "①", "٣", "¼", "〇", "𝟘", "ᛮ", "²",
       "\u0301a", "a\u0301", "Ǆ", "ɐ", "ꭰ", "Ꭰ", "\u2028", "\u3000", "\x85", "\x1f", "\u200b", "ÿ",
       "Ÿ", "ŀ", "ℌ", "ﬃ", "tschüß", "ǆǅǄ", "xǅx"]
for t in ["x.upper()", "x.lower()", "x.title()", "x.capitalize()", "x.swapcase()", "x.casefold()",
          "x.isupper()", "x.islower()", "x.istitle()", "x.isalpha()", "x.isdigit()", "x.isdecimal()",
          "x.isnumeric()", "x.isalnum()", "x.isspace()", "x.isprintable()", "x.isidentifier()",
          "len(x)", "x[::-1]", "repr(x)", "ascii(x)", "x.center(9, 'é')", "x.split()", "x.strip()"]:
    for s in pick(UNI, 9):
        add("unicode", "lambda x: " + t, s)

# ---------------------------------------------------------------- fast paths (kernel.c, refast.c)
# Each lambda below is a shape the kernel compiles (or a re.sub the class
# filter serves); every input is run through it, so each fast path meets the
# edge cases it must get exactly right or decline: Unicode whitespace kinds,
# case mappings that change length or need context, underscores and special
# spellings in numbers, empty strings, astral characters, index errors.
FAST_INPUTS = [
    "", " ", "  Hello World  ", "MiXeD Straße", "İstanbul", "ΣΑΣ ΑΣ", "ὈΔΥΣΣΕΎΣ", "ß", "ﬃ x",
    "ΐ ŉ ǰ", "a\x85b", "\xa0 x \xa0", "\u2000x\u3000", "\x1c\x1dab\x1e\x1f", "\u2028 y \u2029",
    "\u200b z", "12.0 oz.", "597.9 oz.", " 1_0.5 ", " inf ", "-Infinity", "nan", "0x1p3", "-0", "+.5",
    "1.", ".", "-", "+", "e5", "1e", "1e+", "1e5", "1E-7", "0.00001", "0.0001", "0.001234",
    "123456789012345", "1234567890123456", "12345678901234567890", "00012.500", "100", "-0.0 ",
    "١٢٣", "１２", "$1,234.56", "$4,780,591.09", "€12,50", "a\u0130b", "𝐀𝐁 x", "😀 smile 😀",
    "a:b:c", "::", "aaa", "aaaa", "x aa y aa", "\t12\n", "007", "-007", "+0", "1__0", "9" * 40,
    "12.5kg", "1e400", "-1e-400", "5e-324", "0.1 0.2", "3.14159265358979", "2.5e+3 x",
]
FAST_LAMBDAS = [
    "x.strip().lower()", "x.strip()", "x.lstrip()", "x.rstrip()", "x.upper()", "x.casefold()",
    "x.lower()", "x.strip(' .$')", "x.strip('é ')", "x.strip(None).upper()", "x.rstrip('😀 ')",
    "float(x.split()[0])", "float(x)", "float(x.strip())", "int(x)", "int(x.split(',')[0])",
    "x.split()[-1]", "x.split()[1]", "x.split(None)[0]", "x.split(':')[-1]", "x.split(':')[1]",
    "x.split('aa')[-1]", "x.split('aa')[1]", "x.split(' ')[-2]",
    "x.replace(',', '').replace('$', '')", "float(x.replace(',', '').replace('$', ''))",
    "x.replace('a', 'ä')", "x.removeprefix('$').removesuffix(' oz.')", "x.removesuffix('')",
    "re.sub(r'[^0-9.]', '', x)", "re.sub(r'[^0-9.]+', '-', x)", "re.sub('[aeioué]', '', x.lower())",
    "re.sub(r'[\\d]+', '#', x)", "re.sub(r'[^\\d.-]', '', x)", "float(re.sub(r'[^0-9.]', '', x))",
    "re.sub('[]a]', '_', x)", "re.sub('[^]a]+', '', x)", "re.sub('[a-]', '', x)",
    "re.sub(r'[\\]\\-.]', '', x)", "re.sub('[é-ü]', 'E', x)", "re.sub(r'[\\t\\n]+', ' ', x)",
    "re.sub('[$,]', '', x, 1)", "str(x.upper())", "x.upper().split()[0].lower()",
    "int(re.sub(r'[^0-9]', '', x))",
]
for t in FAST_LAMBDAS:
    for s in FAST_INPUTS:
        add("fastpath", "lambda x: " + t, s)

if __name__ == "__main__":
    out = sys.stdout
    for c in cases:
        out.write(json.dumps(c) + "\n")
