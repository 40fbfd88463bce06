#!/usr/bin/env python3
"""Regenerate hostile.jsonl: lambdas that try to escape the sandbox or to
exhaust time or memory. Each must be refused at check time or stopped by a
limit (see tests/lambda/lambda_hostile.c). Run: python3 make_hostile.py > hostile.jsonl
"""
import json

H = []


def h(name, src, x="abc"):
    H.append({"name": name, "src": src, "x": x})


# --- escapes: names, dunders, introspection
for i, s in enumerate([
        "x.__class__", "x.__class__.__mro__", "().__class__.__bases__[0].__subclasses__()",
        "[].__class__.__base__.__subclasses__()", "getattr(x, '__class__')", "globals()", "locals()",
        "vars(x)", "__import__('os').system('id')", "__builtins__", "eval('1')", "exec('1')",
        "compile('1', '', 'eval')", "open('/etc/passwd').read()", "type(x)", "x.__len__()",
        "x.__getattribute__('upper')", "re.__dict__", "re.compile('a')", "datetime.now()",
        "datetime.datetime.now()", "re.sub.__globals__", "(lambda: 1)()", "(y := 1)",
        "[y for y in __builtins__]", "x.upper.__self__", "str.__dict__", "breakpoint()", "help()",
        "print(x)", "input()", "setattr(x, 'a', 1)", "object()", "memoryview(b'a')", "b'abc'",
        "{'a': 1}", "{1, 2}", "(yield x)", "await x", "max(*x)", "dict(a=1)", "x.__init_subclass__",
        "row", "x._private", "x.split.__call__(',')", "[c for c in x].__class__",
        "re.match('a', 'a').re", "re.match('a', 'a').string", "x.upper", "len", "re", "datetime",
        "re.I", "datetime.datetime", "f'{x.__class__}'", "f'{x.upper.__name__}'",
        "'{0.__class__}'.format(x)", "'{0.__class__.__mro__}'.format(x)", "'{0.upper}'.format(x)",
        "'{x.__class__}'.format(x=x)", "'%(x)s' % {'x': x.__class__}", "x.format.__self__",
        "sorted(x, key=len)", "max(x, key=str.lower)", "str.upper(x)", "''.join.__doc__",
        "x if x else __name__", "[__class__ for __class__ in x]", "x.mro()", "(x).__dir__()",
        "__loader__", "__spec__", "classmethod(x)", "super()", "iter(x)", "next(iter(x))",
        "hash(x)", "id(x)", "chr(65)", "ord(x)", "hex(1)", "isinstance(x, str)",
        "issubclass(str, object)", "callable(x)", "dir()", "x.encode()", "bytes(x, 'utf8')",
        "bytearray(3)", "frozenset()", "set()", "dict()", "slice(1)", "Ellipsis", "...",
        "NotImplemented", "__debug__", "filter(None, x)", "map(str, x)"]):
    h("escape-%02d" % i, "lambda x: " + s)
for i, s in enumerate(["lambda *a: a", "lambda x=1: x", "lambda **k: k", "lambda x, *, y: x",
                       "lambda x, y, z: x", "lambda: 1", "lambda x: x; import os",
                       "import os", "lambda x: x\nimport os", "x", "lambda x: 1 if x else",
                       "lambda x: x.__class__ # \\", "def f(x): return x", "lambda x, /: x",
                       "lambda x: (x for x in x)", "lambda x: [x async for x in x]"]):
    h("syntax-%02d" % i, s)

# runtime format-field escape: the format string comes from the data
h("dyn-format-attr", "lambda x: x.format(x)", "{0.__class__.__mro__}")
h("dyn-format-attr2", "lambda x: x.format(1)", "{0.real.__class__}")
h("dyn-format-attr3", "lambda x, row: x.format(**row) if False else x.format(x, row)", "{1.__class__}")

# --- resource exhaustion
for i, (s, x) in enumerate([
        ("'a' * 10**9", "abc"), ("x * 10**9", "a"), ("[0] * 10**9", "a"), ("9**9**9", "a"),
        ("2**10**8", "a"), ("10**100000", "a"), ("1 << 10**9", "a"), ("(-7) ** 10**7", "a"),
        ("'{:>999999999}'.format(x)", "a"), ("f'{x:>999999999}'", "a"), ("f'{x:{x}}'", ">999999999"),
        ("'{:{}}'.format(x, '>999999999')", "a"), ("x.zfill(10**9)", "a"), ("x.center(10**9)", "a"),
        ("x.ljust(2**62)", "a"), ("x.rjust(10**7, 'é')", "a"), ("'%999999999d' % 1", "a"),
        ("'%.999999999f' % 1.0", "a"), ("format(1.5, '.999999999f')", "a"),
        ("format(10**50, '999999999,d')", "a"), ("x.expandtabs(10**9)", "\t\t"),
        ("re.match('(a+)+$', 'a' * 40 + 'b')", "a"), ("re.match(r'(a|aa)+$', 'a' * 60 + 'b')", "a"),
        ("re.sub('(x+x+)+y', '', 'x' * 40 + 'zy')", "a"), ("re.search(r'(\\w+\\s?)+$', x)", "a" * 3000 + "!"),
        ("re.findall(r'(a*)*b', x)", "a" * 60 + "c b"), ("re.findall(r'(a|aa)*c', x)", "a" * 50 + "b c"),
        ("re.match(r'(\\w+)*\\d$', x)", "a" * 50 + "!1"), ("[re.match('(a+)+$', x) for i in range(1000)]", "a" * 30 + "b"),
        ("[re.match('(a+)+$', x) for i in range(6231)]", "a" * 14 + " x\n" + "a" * 40), ("re.sub('', x * 100, x * 1000)", "abcdefghij"),
        ("re.sub(x, x * 100000, x * 100)", "ab"),
        ("[y for a in x * 1000 for b in x * 1000 for y in x]", "abc"),
        ("[c for c in x * 1000000]", "ab"), ("sum(range(10**12))", "a"),
        ("[i for i in range(10**9)]", "a"), ("len([0 for i in range(10**8)])", "a"),
        ("'x'.join(x for _ in range(10**7))", "a"), ("x.replace('', x * 1000)", "a" * 1000),
        ("[(x * 100000).upper() for i in range(100)]", "a" * 10), ("[x * 100000 for i in range(1000)]", "a" * 10),
        ("str(2**(2**20))", "a"), ("sorted(x * 100000)", "abcdefghij"), ("[[y for y in x] for z in x]", "a" * 3000),
        ("x * (10**6)", "ab"), ("x.upper()", "ŉ" * 500000), ("x.upper()", "a" * 1100000),
        ("list(x) * 1000", "a" * 1000), ("tuple(range(10**6))", "a"), ("any(c == '!' for c in x * 10**6)", "ab"),
        ("all(True for i in range(10**9))", "a"), ("max(range(10**9))", "a"), ("min(x * 10**6)", "ab"),
        ("[x.split() for i in range(10**5)]", "a b c d e f g h"), ("' '.join([x] * 10**5)", "abcdefghijkl"),
        ("'%s' % (x * 10**6,)", "ab"), ("f'{x * 10**6}'", "ab"), ("str([x] * 10**5)", "abcdefghijkl"),
        ("repr(x * 10**6)", "ab"), ("x.split(',') * 10**5", "a,b"), ("[c for c in x for d in x for e in x]", "a" * 200),
        ("sum(1 for a in x for b in x)", "a" * 1000), ("x.count('a') + len(x * 10**6)", "ab"),
        ("[int(c) for c in x * 10**5]", "1234567890"), ("list(enumerate(x * 10**6))", "ab"),
        ("list(zip(x * 10**6, x * 10**6))", "ab"), ("x.title() * 10**6", "ab"),
        ("datetime.strptime(x * 10**5, '%Y' * 10**5)", "2024"), ("re.split('', x * 10**6)", "ab"),
        ("re.findall('.', x * 10**6)", "ab"), ("x.splitlines() * 10**6", "a\nb"),
        ("(x * 10**5).casefold() * 20", "ß"), ("x.swapcase() * 10**6", "ǅ"),
        ("(x * 10**5).upper().lower() * 10", "ab")]):
    h("exhaust-%02d" % i, "lambda x: " + s, x)

# --- size and nesting of the source itself
h("nest-10000", "lambda x: " + "(" * 10000 + "x" + ")" * 10000)
h("nest-150", "lambda x: " + "(" * 150 + "x" + ")" * 150)
h("nest-list-100", "lambda x: " + "[" * 100 + "x" + "]" * 100)
h("nest-not-1000", "lambda x: " + "not " * 1000 + "x")
h("nest-neg-2000", "lambda x: " + "-" * 2000 + "1")
h("nest-ifexp-100", "lambda x: " + "x if x else (" * 100 + "x" + ")" * 100)
h("nest-call-80", "lambda x: " + "str(" * 80 + "x" + ")" * 80)
h("nest-fstring", "lambda x: f'{x:{x:{x}}}'")
h("nodes-plus", "lambda x: " + "x+" * 1500 + "x")
h("nodes-chain", "lambda x: x" + ".strip()" * 1100)
h("nodes-chain-short", "lambda x: x" + "[0]" * 1000 + " + x" * 300)
h("nodes-index", "lambda x: x" + "[0]" * 1400)
h("long-source", "lambda x: " + "x+" * 50000 + "x")
h("huge-int-literal", "lambda x: " + "9" * 5000)
h("huge-int-literal-4299", "lambda x: " + "9" * 4299 + " ** 9")
h("long-string-literal", "lambda x: '" + "a" * 100000 + "'")
h("many-comprehension-clauses", "lambda x: [1 " + "for a in x " * 40 + "]")
h("long-compare-chain", "lambda x: " + " < ".join(["x"] * 600))

for c in H:
    print(json.dumps(c))
