"""Tests of the Turkish course: chapter structure, the HTML build, the primer and the pictures."""
from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from nanograd_llm.layers import CHAPTERS as LAYER_CHAPTERS

from _platform import SIGKILL, SYMLINKS, posix_only

ROOT = Path(__file__).resolve().parent.parent
TURKISH_LETTERS = re.compile(r"[çğıöşüÇĞİÖŞÜ]")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- helpers ---------------------------------------------------------------------------------

def sections(doc: str) -> dict[str, str]:
    """{'## ' heading text: body} of a Markdown docstring."""
    out, title, body = {}, None, []
    for line in doc.splitlines():
        if line.startswith("## "):
            if title is not None:
                out[title] = "\n".join(body)
            title, body = line[3:].strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        out[title] = "\n".join(body)
    return out


def find_section(secs: dict[str, str], prefix: str) -> str | None:
    for title, body in secs.items():
        if title.startswith(prefix):
            return body
    return None


def prose(text: str) -> str:
    """Text without code spans, indented blocks and table rows (what a reader reads as prose)."""
    lines = [l for l in text.splitlines() if not l.startswith("    ") and not l.startswith("|")]
    return re.sub(r"`[^`]*`", " ", "\n".join(lines))


ENGLISH = re.compile(r"\b(the|and|is|are|of|this|which|with|that|we)\b", re.IGNORECASE)
TURKISH = re.compile(r"\b(ve|bir|bu|için|ile|olarak|değil|her|yani|da|de)\b")


def assert_turkish(text: str, where: str) -> None:
    p = prose(text)
    assert TURKISH_LETTERS.search(p), f"{where}: no Turkish letters"
    en, tr = len(ENGLISH.findall(p)), len(TURKISH.findall(p))
    assert tr >= 3 and en <= max(2, tr // 10), f"{where}: reads like English ({en} vs {tr})"


def turkish_prose_lines():
    """(where, line) for every line of the project's Turkish writing, code left out: module
    docstrings and `#` comment blocks holding a Turkish letter (the package's and the examples'
    .py files), and README.tr.md; code spans and 4-space-indented (code, formula) lines go."""
    import ast
    import io
    import tokenize

    def lines_of(where, text, indented_is_code):
        for i, line in enumerate(text.splitlines()):
            if indented_is_code and line.startswith("    "):
                continue
            yield f"{where}+{i}", re.sub(r"`[^`]*`", " ", line)

    files = sorted((ROOT / "nanograd_llm").rglob("*.py")) + sorted((ROOT / "examples").glob("*.py"))
    for path in files:
        source = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        doc = ast.get_docstring(ast.parse(source)) or ""
        if TURKISH_LETTERS.search(doc):
            yield from lines_of(f"{where} docstring", doc, True)
        blocks, block, last = [], [], -2
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                if tok.start[0] != last + 1 and block:
                    blocks.append(block)
                    block = []
                block.append((tok.start[0], tok.string.lstrip("#")))
                last = tok.start[0]
        blocks.append(block)
        for block in blocks:
            if any(TURKISH_LETTERS.search(text) for _, text in block):
                for n, text in block:
                    yield f"{where}:{n}", re.sub(r"`[^`]*`", " ", text)
    yield from lines_of("README.tr.md", (ROOT / "README.tr.md").read_text(encoding="utf-8"), True)


# -- every layer chapter has its sections --------------------------------------------------

@pytest.mark.parametrize("name", LAYER_CHAPTERS)
def test_layer_chapter_sections(name):
    mod = importlib.import_module(f"nanograd_llm.layers.{name}")
    doc = mod.__doc__ or ""
    assert doc.lstrip().startswith("# "), f"{name}: the docstring must open with a # title"
    assert_turkish(doc, name)
    secs = sections(doc)

    forward = find_section(secs, "İleri geçiş")
    assert forward is not None, f"{name}: no 'İleri geçiş' section"
    formula = [l for l in forward.splitlines() if l.startswith("    ") and "=" in l]
    assert formula, f"{name}: the forward section has no formula line"

    shape = find_section(secs, "Şekil")
    assert shape is not None, f"{name}: no 'Şekil' section"
    rows = [l for l in shape.splitlines() if l.strip().startswith("|")]
    assert len(rows) >= 4, f"{name}: the shape table needs a header and at least two rows"
    assert re.match(r"^\|[\s\-:|]+\|$", rows[1].strip()), f"{name}: malformed shape table"

    backward = find_section(secs, "Geri yayılım")
    assert backward is not None, f"{name}: no 'Geri yayılım' section"
    steps = re.findall(r"^\s*\d+\.\s", backward, re.MULTILINE)
    backward_fns = [f for n, f in inspect.getmembers(mod, inspect.isfunction)
                    if n.endswith("_backward") and f.__module__ == mod.__name__]
    assert len(steps) >= 2, f"{name}: the backward derivation needs numbered steps"
    assert re.search(r"(Gradyan|Doğruluk) denetimi", doc), f"{name}: where is it checked?"

    # Each backward function says which forward line each gradient line reverses.
    for fn in backward_fns:
        src = inspect.getsource(fn)
        comments = [l.strip()[1:].strip() for l in src.splitlines() if l.strip().startswith("#")]
        assert any(c.startswith("İleri geçişte") for c in comments), \
            f"{name}.{fn.__name__}: no '# İleri geçişte …' comment"
        assert not [c for c in comments if len(ENGLISH.findall(prose(c))) >= 2], \
            f"{name}.{fn.__name__}: a comment reads like English"


def test_every_layer_with_backward_is_a_chapter():
    layers_dir = ROOT / "nanograd_llm" / "layers"
    modules = {p.stem for p in layers_dir.glob("*.py") if p.stem != "__init__"}
    assert modules == set(LAYER_CHAPTERS)


def test_gradcheck_references_name_real_tests():
    """Each chapter with a backward names its finite-difference and PyTorch tests
    (`tests/x.py::test_y`), and every such reference names a test that exists."""
    refs = []
    for name in LAYER_CHAPTERS:
        mod = importlib.import_module(f"nanograd_llm.layers.{name}")
        found = re.findall(r"(tests/[\w/]+\.py)::(\w+)", mod.__doc__)
        if any(n.endswith("_backward") for n in dir(mod)):
            files = {f for f, _ in found}
            assert "tests/test_layers_torch.py" in files, f"{name}: no PyTorch test named"
            assert files - {"tests/test_layers_torch.py"}, f"{name}: no gradient check named"
        refs += found
    assert len(refs) >= 25
    missing = [f"{f}::{t}" for f, t in refs if not (ROOT / f).is_file()
               or not re.search(rf"def {t}\b", (ROOT / f).read_text(encoding="utf-8"))]
    assert not missing, f"docstrings point at tests that do not exist: {missing}"


@pytest.mark.parametrize("module", ["nanograd_llm.course.primer", "nanograd_llm.course.bigram",
                                    "nanograd_llm.course.transformer", "nanograd_llm.course.gpt",
                                    "nanograd_llm.models.bigram", "nanograd_llm.models.gpt",
                                    "nanograd_llm.docs", "nanograd_llm.viz"])
def test_course_pages_are_turkish(module):
    doc = importlib.import_module(module).__doc__
    assert doc.lstrip().startswith("# ")
    assert_turkish(doc, module)


def test_course_corrects_the_original_documents_errors():
    from nanograd_llm.course import gpt, transformer
    t = transformer.__doc__
    g = gpt.__doc__
    assert "yalnızca kod çözücü" in t and "kodlayıcı" in t            # decoder-only
    assert "kümeleme (clustering) yöntemi değildir" in t               # LN is not clustering
    assert "özyinelemeli (recursive)" in t and "yoktur" in t           # no recursion
    assert "175 milyar" in g                                            # GPT-3 size
    assert "dikkat hesabının içindeki bir adım değil" in t              # residual placement
    assert "karakter düzeyindedir" in t                                 # character level
    assert "pre-LN" in t and "önce" in t                                # GPT-2 is pre-LN


# -- the chapter registry ----------------------------------------------------------------

def test_chapter_order_and_core_modules_present():
    from nanograd_llm.course import CHAPTERS, PARTS
    from nanograd_llm.docs import module_source
    assert CHAPTERS[0] == "nanograd_llm.course.primer"
    assert [m for m in CHAPTERS if m.startswith("nanograd_llm.layers.")] == \
        [f"nanograd_llm.layers.{n}" for n in LAYER_CHAPTERS]
    assert len(CHAPTERS) == len(set(CHAPTERS))
    order = [m.rsplit(".", 1)[1] for m in CHAPTERS if m.startswith("nanograd_llm.course.")]
    assert order == ["primer", "bigram", "transformer", "gpt"]
    for m in CHAPTERS:
        if m.startswith(("nanograd_llm.course.", "nanograd_llm.layers.", "nanograd_llm.models.")):
            assert module_source(m) is not None, m
    assert len(PARTS) >= 5


# -- splitting source into (comment, code) sections -------------------------------------

def test_split_sections():
    from nanograd_llm.docs import split_sections
    src = '''"""
# Başlık
Açıklama.
"""
import numpy as np

# Birinci açıklama
# ikinci satırı
x = 1  # satır sonu yorumu kodda kalır
s = """
# bu bir dizgenin içinde, yorum değil
"""


    # Girintili açıklama
y = 2
'''
    doc, secs = split_sections(src)
    assert doc.strip().startswith("# Başlık")
    assert secs[0].doc == "" and secs[0].code == "import numpy as np" and secs[0].first_line == 5
    assert secs[1].doc == "Birinci açıklama\nikinci satırı"
    assert secs[1].first_line == 9
    assert "# satır sonu yorumu kodda kalır" in secs[1].code
    assert "# bu bir dizgenin içinde" in secs[1].code
    assert secs[2].doc == "Girintili açıklama" and secs[2].code == "y = 2"
    assert secs[2].first_line == 16


def test_a_comment_line_that_starts_with_an_option_is_not_a_rule():
    """'# -- forward -----' is a rule, shown as a bold title; a comment line that begins with a
    command-line option ('# --resume onu sürdürür; --overwrite …', a wrapped line's start) was
    taken for one too: its '--' was dropped and the whole line set in bold."""
    from nanograd_llm.docs import _comment_text, render_module
    assert _comment_text("# -- forward ------") == "**forward**"
    assert _comment_text("# -- --overwrite -----") == "**--overwrite**"
    assert _comment_text("# ----------") == ""
    assert _comment_text("# --resume onu sürdürür") == "--resume onu sürdürür"
    pytest.importorskip("markdown")
    _, body = render_module("# Açıklama, --out ile\n# --resume onu sürdürür\nx = 1\n")
    assert "<strong>" not in body and "--resume onu sürdürür" in body


def test_a_power_written_with_two_stars_is_not_bold():
    """Comments write powers as Python does: '(10**400) … 10**15'ten' was rendered with the text
    between the two '**' in bold and both '**' lost (models/base.py, and any two powers in one
    paragraph). A '**' after a number and before a digit is text; bold still works, also before
    a Turkish suffix ('**toplama**dır'), and code spans are untouched."""
    pytest.importorskip("markdown")
    from nanograd_llm.docs import _markdown
    out = _markdown("bir değer (10**400) ise; 10**15'ten, (2**53) ve `x**3`")
    assert "<strong>" not in out
    assert "(10**400) ise; 10**15'ten, (2**53) ve <code>x**3</code>" in out
    assert "<strong>toplama</strong>dır" in _markdown("geri yayılımı **toplama**dır, 2**5")


def test_a_dunder_name_in_a_comment_is_not_bold():
    """'GPT.__init__' and 'GPTConfig.__setattr__' in comments (models/gpt.py, models/base.py)
    were rendered as 'GPT.<strong>init</strong>': Markdown's underscore bold ate the
    underscores. Python's special names are text; ** bold is unchanged."""
    pytest.importorskip("markdown")
    from nanograd_llm.docs import _markdown
    out = _markdown("kilitler (GPT.__init__), __init__'ten geçer; GPTConfig.__setattr__ "
                    "ve **kalın**")
    assert "GPT.__init__), __init__'ten geçer; GPTConfig.__setattr__ ve " \
           "<strong>kalın</strong>" in out


def test_fix_lists():
    from nanograd_llm.docs import _fix_lists
    out = _fix_lists("Şöyle:\n1. bir\n   * alt\n2. iki\n\n    kod = 1\nParagraf")
    assert out.splitlines() == ["Şöyle:", "", "1. bir", "    * alt", "2. iki", "",
                                "    kod = 1", "Paragraf"]
    # a formula indented 7 spaces inside a numbered item becomes a code block in the item
    out = _fix_lists("1. Toplayınca:\n\n       dx = a\n         + b\n2. son\nmetin\n4. kısım")
    assert out.splitlines() == ["1. Toplayınca:", "", "        dx = a", "          + b",
                                "2. son", "metin", "4. kısım"]


def test_split_sections_skips_a_shebang_keeps_type_comments_and_counts_lines():
    from nanograd_llm.docs import split_sections
    src = ("#!/usr/bin/env python\n"
           "import os\n"
           "# Açıklama\n"
           "\n"
           "\n"
           "x = 1\n"
           "# type: ignore\n"
           "y = 2\n")
    _, secs = split_sections(src)
    assert [(s.doc, s.code, s.first_line) for s in secs] == [
        ("", "import os", 2), ("Açıklama", "x = 1\n# type: ignore\ny = 2", 6)]


def test_fix_lists_moves_a_5_space_formula_in_a_list_item_to_8():
    from nanograd_llm.docs import _fix_lists
    out = _fix_lists("1. Toplayınca:\n\n     dx = a\n2. son")
    assert out.splitlines() == ["1. Toplayınca:", "", "        dx = a", "2. son"]


def test_module_source_only_reads_python_files():
    from nanograd_llm.docs import module_source
    assert module_source("sys") is None                  # built into the interpreter
    assert module_source("math") is None                 # built in, or a compiled extension
    assert module_source("nanograd_llm.docs")[1] == "nanograd_llm/docs.py"


@posix_only(SYMLINKS)
def test_module_source_of_a_package_reached_through_a_symbolic_link(tmp_path, monkeypatch):
    """A checkout reached through a linked folder (spec.origin not resolved) still gets its
    repository-relative path: docs once resolved the path only to test it, then raised
    ValueError from relative_to on the unresolved one."""
    import importlib.machinery
    import importlib.util

    from nanograd_llm import docs
    root = Path(docs.__file__).resolve().parent.parent
    try:
        (tmp_path / "link").symlink_to(root, target_is_directory=True)
    except OSError:
        pytest.skip(SYMLINKS)
    linked = tmp_path / "link" / "nanograd_llm" / "docs.py"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: importlib.machinery.ModuleSpec(
        name, None, origin=str(linked)))
    text, rel = docs.module_source("nanograd_llm.docs")
    assert rel == "nanograd_llm/docs.py" and text == Path(docs.__file__).read_text(encoding="utf-8")


def test_code_lines_are_numbered_from_the_source_and_repeated_headings_stay_unique():
    pytest.importorskip("markdown")
    pytest.importorskip("pygments")
    from nanograd_llm.docs import add_heading_ids, render_module
    _, body = render_module("x = 1\n\n# Açıklama\ny = 2\n")
    assert re.findall(r'<span class="ln">\s*(\d+)</span>', body) == ["1", "4"]
    ids = re.findall(r' id="([^"]+)"', add_heading_ids("<h2>A</h2>" * 3))
    assert ids == ["a", "a-2", "a-3"]


def test_page_details_title_images_and_unreadable_chapters(tmp_path):
    """<title> shows `code` without backticks; an external picture is kept as it is; a title
    comes from a '# ' line only; a tokenizer error names its line."""
    import tokenize

    from nanograd_llm.docs import _drop_missing_images, _page_html, _unreadable, chapter_title
    assert "<title>x ve y</title>" in _page_html("`x` ve y", "")
    img = '<img alt="a" src="https://example.org/a.png">'
    assert _drop_missing_images(img, tmp_path) == img
    assert chapter_title("## Alt başlık\nmetin", "pkg.mod") == "pkg.mod"
    assert _unreadable(tokenize.TokenError("EOF in multi-line statement", (7, 0))) == \
        "not valid Python: EOF in multi-line statement (line 7)"


_KILLED_DOCS = """
import os, signal, sys
from pathlib import Path
from nanograd_llm import atomic, docs
docs.PARTS = [("Deneme", ["nanograd_llm.layers.relu"])]
target, real_replace = sys.argv[2], os.replace
def replace(src, dst):
    if Path(dst).name == target:         # killed (SIGKILL: no clean-up runs) while writing it
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
atomic.os.replace = replace
docs.build_docs(sys.argv[1], images=False, log=lambda m: None)
"""


@pytest.mark.parametrize("killed_at", [".nanograd_llm_docs", "index.html", "style.css"])
@posix_only(SIGKILL)
def test_a_docs_killed_while_writing_is_rebuilt_without_its_temporary_files(tmp_path,
                                                                          monkeypatch,
                                                                          killed_at):
    """A `docs` killed while writing a file (SIGKILL, SIGTERM, the terminal closed) leaves the
    file's hidden temporary file (".index.html.ab12cd_3.tmp"): the next build kept it, so such
    files piled up in the published site; one killed while writing its marker left a folder
    that the next `docs --out` refused as "not empty and holds no course". The next build now
    accepts that folder and removes the temporary files of its own files (and only those)."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.layers.relu"])])
    site = tmp_path / "site"
    if killed_at == "index.html":                  # an earlier course, rebuilt and killed
        docs.build_docs(site, images=False, log=lambda m: None)
        (site / "img").mkdir()
        (site / "img" / ".attention.png.k1ll3d_x.tmp").write_bytes(PNG_MAGIC)
        (site / ".notes.txt.abcdefgh.tmp").write_text("not ours")
    r = subprocess.run([sys.executable, "-c", _KILLED_DOCS, str(site), killed_at],
                       capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert any(p.name.endswith(".tmp") for p in site.iterdir())
    docs.build_docs(site, images=False, log=lambda m: None)
    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.tmp"))
    assert left == ([".notes.txt.abcdefgh.tmp"] if killed_at == "index.html" else [])
    assert (site / docs.DOCS_MARKER).is_file() and (site / "layers.relu.html").is_file()


@posix_only(SYMLINKS)
def test_a_link_named_like_a_temporary_file_is_not_removed(tmp_path, monkeypatch):
    """The clean-up of a killed build's temporary files removes only the plain files
    atomic.py makes: a symbolic link that happens to carry such a name (to a file, or to
    nothing) is the user's and stays."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.layers.relu"])])
    site = tmp_path / "site"
    docs.build_docs(site, images=False, log=lambda m: None)
    (tmp_path / "mine.txt").write_text("mine")
    (site / ".index.html.abcdefgh.tmp").symlink_to(tmp_path / "mine.txt")
    (site / ".style.css.abcdefgh.tmp").symlink_to(tmp_path / "nowhere")
    docs.build_docs(site, images=False, log=lambda m: None)
    assert (site / ".index.html.abcdefgh.tmp").is_symlink()
    assert (site / ".style.css.abcdefgh.tmp").is_symlink()
    assert (tmp_path / "mine.txt").read_text() == "mine"


def test_a_temporary_file_another_docs_is_writing_is_left_alone(tmp_path, monkeypatch):
    """The start-of-build clean-up deleted every temporary file of docs' own files, also one a
    second `docs` into the same folder was still writing (that one then failed): it now goes
    through atomic.remove_stale_temporaries, which leaves a locked (live) one alone."""
    pytest.importorskip("markdown")
    fcntl = pytest.importorskip("fcntl")
    from nanograd_llm import docs
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.layers.relu"])])
    site = tmp_path / "site"
    docs.build_docs(site, images=False, log=lambda m: None)
    live = site / ".layers.relu.html.l1vewr1t.tmp"
    dead = site / ".index.html.k1ll3d_x.tmp"
    live.write_text("half a page")
    dead.write_text("half a page")
    with open(live, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)          # a writer that is still at work
        docs._remove_leftovers(site)
        assert live.exists() and not dead.exists()
    docs._remove_leftovers(site)
    assert not live.exists()


def test_docs_checks_out_and_run_before_writing_anything(tmp_path):
    """--out naming a file, and --run naming a folder without metrics.jsonl (also with
    --no-images, where no picture would have read it), are refused up front."""
    from nanograd_llm.docs import build_docs
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        build_docs(tmp_path / "file", images=False, log=lambda m: None)
    (tmp_path / "run").mkdir()
    with pytest.raises(ValueError, match="not a training run folder"):
        build_docs(tmp_path / "site", run_dir=tmp_path / "run", images=False,
                   log=lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "run"]


def test_angle_brackets_in_explanations_are_text_not_html():
    """`# ... tokens.npy.tmp<pid>` (checkpoint.py) rendered as an unknown <pid> tag that
    swallowed the rest of the paragraph."""
    pytest.importorskip("markdown")
    pytest.importorskip("pygments")
    from nanograd_llm.docs import render_module
    _, body = render_module('"""\n# Başlık\n\n<div>x</div> ve a<b>c\n"""\n'
                            "# dosya.tmp<pid> ve x < y > z\nx = 1\n")
    assert "tmp&lt;pid&gt;" in body and "<pid>" not in body
    assert "&lt;div&gt;x&lt;/div&gt;" in body and "a&lt;b&gt;c" in body
    assert "<b>" not in body and "<div>x" not in body


def test_entity_references_in_explanations_are_shown_as_written():
    """docs.py's own comment "< ve > olduğu gibi (&lt; &gt;) gösterilir" rendered as "(< >)":
    an entity reference written in a comment or docstring went into the HTML unescaped."""
    pytest.importorskip("markdown")
    pytest.importorskip("pygments")
    from html.parser import HTMLParser
    from nanograd_llm.docs import render_module

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.text = ""

        def handle_data(self, data):
            self.text += data

    _, body = render_module('"""\n# Başlık\n\nA &amp; B, `&lt;`\n\n| a | &#x27; |\n|---|---|\n'
                            '| &gt; | 1 |\n"""\n# (&lt; &gt;) ve a & b\nx = 1\n')
    reader = Text()
    reader.feed(body)
    for shown in ("A &amp; B", "&lt;", "&#x27;", "&gt;", "(&lt; &gt;) ve a & b"):
        assert shown in reader.text, shown
    assert "<table>" in body and "<code>&amp;lt;</code>" in body


# -- the HTML build --------------------------------------------------------------------

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.links.append(v)


def _links(html_text: str) -> list[str]:
    p = _Links()
    p.feed(html_text)
    return p.links


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    pytest.importorskip("markdown")
    pytest.importorskip("pygments")
    pytest.importorskip("matplotlib")
    from nanograd_llm.docs import build_docs
    out = tmp_path_factory.mktemp("docs")
    log = []
    pages = build_docs(out, demo_steps=3, log=log.append)
    return out, pages, log


def test_the_first_and_last_pages_have_no_link_past_the_ends(built_docs):
    _, pages, _ = built_docs
    first = pages[1].read_text(encoding="utf-8")
    last = pages[-1].read_text(encoding="utf-8")
    assert '<nav class="pager"><span></span><a href=' in first
    assert re.search(r'<nav class="pager"><a href="[^"]+">← .*</a><span></span></nav>', last)


def test_docs_build_writes_every_existing_chapter(built_docs):
    from nanograd_llm.course import CHAPTERS
    from nanograd_llm.docs import module_source, page_name
    out, pages, log = built_docs
    existing = [m for m in CHAPTERS if module_source(m) is not None]
    assert [p.name for p in pages] == ["index.html"] + [page_name(m) for m in existing]
    for m in CHAPTERS:
        if m not in existing:
            assert any(m in line and "skipped" in line for line in log)
    index = (out / "index.html").read_text(encoding="utf-8")
    linked = [l for l in _links(index) if l.endswith(".html") and l != "index.html"]
    assert linked == [page_name(m) for m in existing]          # index in chapter order
    for name in ("positional_encoding.png", "loss_curve.png", "attention.png"):
        data = (out / "img" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_docs_links_resolve(built_docs):
    out, pages, _ = built_docs
    checked = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert 'lang="tr"' in text and "charset=\"utf-8\"" in text
        for link in _links(text):
            assert "://" not in link and not link.startswith("/"), f"{page.name}: {link}"
            target = link.split("#", 1)[0]
            if target:
                assert (out / target).is_file(), f"{page.name} links to missing {link}"
                checked += 1
    assert checked > 50


def test_docs_pages_are_two_columns_with_code(built_docs):
    out, _, _ = built_docs
    page = (out / "layers.linear.html").read_text(encoding="utf-8")
    assert page.count('class="section"') >= 3
    assert '<div class="doc">' in page and '<div class="code"><pre>' in page
    assert "İleri geçişte" in page                          # comment block on the left ...
    assert "linear_backward" in page and 'class="ln"' in page   # ... code with line numbers
    assert "<table>" in page                                # the shape table rendered
    gpt_page = (out / "course.gpt.html").read_text(encoding="utf-8")
    assert 'src="img/loss_curve.png"' in gpt_page and 'src="img/attention.png"' in gpt_page


def test_headings_have_stable_unique_ids(built_docs):
    """Headings had no id, so no section of the course could be linked to. Each heading gets
    the ASCII slug of its Turkish text (ç ğ ı İ ö ş ü → c g i i o s u), repeats in a page are
    numbered, and a ¶ link next to the heading points at it."""
    pytest.importorskip("markdown")
    from nanograd_llm.docs import heading_slug, render_module
    assert heading_slug("Kaynağı bölümlere ayırmak") == "kaynagi-bolumlere-ayirmak"
    assert heading_slug("İLERİ GEÇİŞ: Işık, ÇÖĞÜŞ") == "ileri-gecis-isik-cogus"
    assert heading_slug("Bayttan Unicode'a eşleme (byte-to-unicode) neden var?") == \
        "bayttan-unicodea-esleme-byte-to-unicode-neden-var"
    assert heading_slug("İleri geçiş (ε = 1e-5, β₁)") == "ileri-gecis-ε-1e-5-β1"
    assert heading_slug("xxx_forward → out") == "xxx_forward-out"
    _, body = render_module('"""\n# Başlık\n\n## Örnekleme\n\n## `np.add.at` ve & işareti\n"""\n'
                            '# ## Örnekleme\n# metin\nx = 1\n# ### ???\ny = 2\n')
    heads = re.findall(r'<h([1-6]) id="([^"]+)">(.*?)</h\1>', body)
    assert [(lvl, i) for lvl, i, _ in heads] == [
        ("1", "baslik"), ("2", "ornekleme"), ("2", "np-add-at-ve-isareti"),
        ("2", "ornekleme-2"), ("3", "bolum")]
    for _, i, inner in heads:
        assert inner.endswith(f'<a class="anchor" href="#{i}" title="Bu bölüme bağlantı">¶</a>')
    # the built course: every heading of every page has an id, unique in its page, and the
    # same build gives the same ids
    out, pages, _ = built_docs
    total = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<h[1-6]>", text), page.name
        ids = re.findall(r'<h[1-6] id="([^"]+)"', text)
        assert len(ids) == len(set(ids)), page.name
        total += len(ids)
    assert total > 200
    bigram = (out / "course.bigram.html").read_text(encoding="utf-8")
    assert 'id="ornekleme"' in bigram and 'id="ornekleme-2"' in bigram
    src = render_module(Path(ROOT / "nanograd_llm" / "train.py").read_text(encoding="utf-8"))[1]
    assert 'id="kaldigi-yerden-devam-resume"' in src
    assert 'id="kaldigi-yerden-devam-resume"' in (out / "train.html").read_text(encoding="utf-8")

def test_docs_without_images_and_missing_modules(tmp_path, monkeypatch):
    pytest.importorskip("markdown")
    from nanograd_llm import docs
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.layers.linear",
                                                    "nanograd_llm.no_such_module",
                                                    "nanograd_llm.course.transformer"])])
    log = []
    pages = docs.build_docs(tmp_path, images=False, log=log.append)
    assert [p.name for p in pages] == ["index.html", "layers.linear.html",
                                       "course.transformer.html"]
    assert any("no_such_module" in l and "skipped" in l for l in log)
    page = (tmp_path / "course.transformer.html").read_text(encoding="utf-8")
    assert "<img" not in page and "görsel üretilmedi" in page   # no dangling image links


@pytest.mark.parametrize("text, expect", [
    (b'"""\n# Bozuk\n"""\ndef f(:\n    pass\n', "line 4"),
    (b'"""\n# Bozuk\n\nkapanmayan belge dizesi\n', "line 1"),
    (b'"""\n# Bozuk\n"""\n\xff\xfe = 1\n', "not UTF-8"),
])
def test_docs_chapter_that_is_not_valid_python_is_a_clear_error(tmp_path, monkeypatch, capsys,
                                                                text, expect):
    """A chapter file that cannot be parsed (a syntax error, an unterminated docstring, bytes
    that are not UTF-8) stops the build with an error that names the chapter, not a traceback
    from ast/tokenize that names "<unknown>"."""
    pytest.importorskip("markdown")
    import importlib
    from nanograd_llm import docs
    from nanograd_llm.cli import main
    pkg = tmp_path / "src" / "bozukpaket"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "bolum.py").write_bytes(text)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    importlib.invalidate_caches()
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.layers.relu",
                                                    "bozukpaket.bolum"])])
    try:
        rc = main(["docs", "--out", str(tmp_path / "site"), "--no-images"])
    finally:
        sys.modules.pop("bozukpaket", None)        # find_spec imported the package
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "bozukpaket.bolum" in err and expect in err
    assert not (tmp_path / "site").exists()          # no half-made course left behind


def test_docs_warns_about_a_chapter_without_docstring_or_title(tmp_path, monkeypatch):
    """A chapter whose explanation is missing (no module docstring, or one without a
    "# Başlık" line) went into the course silently, titled by its module name."""
    pytest.importorskip("markdown")
    import importlib
    from nanograd_llm import docs
    pkg = tmp_path / "src" / "eksikpaket"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "belgesiz.py").write_text("# yorum\nx = 1\n")
    (pkg / "basliksiz.py").write_text('"""Başlıksız bir açıklama."""\nx = 1\n')
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    importlib.invalidate_caches()
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["eksikpaket.belgesiz",
                                                    "nanograd_llm.layers.relu",
                                                    "eksikpaket.basliksiz"])])
    log = []
    try:
        pages = docs.build_docs(tmp_path / "site", images=False, log=log.append)
    finally:
        sys.modules.pop("eksikpaket", None)        # find_spec imported the package
    assert [p.name for p in pages] == ["index.html", "eksikpaket.belgesiz.html",
                                       "layers.relu.html", "eksikpaket.basliksiz.html"]
    warnings = [line for line in log if "warning" in line]
    assert len(warnings) == 2
    assert "eksikpaket.belgesiz" in warnings[0] and "no module docstring" in warnings[0]
    assert "eksikpaket.basliksiz" in warnings[1] and "'# title'" in warnings[1]


def test_docs_rebuild_leaves_no_stale_pictures(tmp_path, monkeypatch):
    """A picture this build did not draw (a bigram run has no attention map; --no-images) must
    not be shown from an earlier build as if it belonged to this one; the note says why."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs, viz
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.course.gpt"])])
    img = tmp_path / "img"
    img.mkdir()
    (tmp_path / docs.DOCS_MARKER).write_text("")      # the pictures of an earlier build
    for name in ("attention.png", "loss_curve.png", "positional_encoding.png"):
        (img / name).write_bytes(PNG_MAGIC + b"old")

    def bigram_run(img_dir, run_dir=None, log=print, demo_steps=None, skipped=None):
        made = []
        for name in ("positional_encoding.png", "loss_curve.png"):
            (Path(img_dir) / name).write_bytes(PNG_MAGIC + b"new")
            made.append(Path(img_dir) / name)
        skipped["attention.png"] = "run eğitiminin modeli bir bigram"
        return made
    monkeypatch.setattr(viz, "course_images", bigram_run)
    docs.build_docs(tmp_path, log=lambda m: None)
    assert sorted(p.name for p in img.iterdir()) == ["loss_curve.png", "positional_encoding.png"]
    page = (tmp_path / "course.gpt.html").read_text(encoding="utf-8")
    assert "attention.png: run eğitiminin modeli bir bigram" in page
    assert 'src="img/loss_curve.png"' in page
    docs.build_docs(tmp_path, images=False, log=lambda m: None)
    assert list(img.iterdir()) == []
    page = (tmp_path / "course.gpt.html").read_text(encoding="utf-8")
    assert "<img" not in page and "--no-images" in page and "matplotlib" not in page


def test_docs_rebuild_keeps_pictures_it_did_not_draw(tmp_path, monkeypatch):
    """Rebuilding a course deleted every img/*.png this build did not draw, also a picture the
    user had put there (a logo the pages of their site use): data lost without a word. Only
    the three pictures `docs` draws are taken out when stale (and only their temporary
    files when a killed build left some)."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.layers.relu"])])
    docs.build_docs(tmp_path, images=False, log=lambda m: None)
    img = tmp_path / "img"
    img.mkdir()
    (img / "logo.png").write_bytes(PNG_MAGIC + b"mine")
    (img / ".logo.png.abcdefgh.tmp").write_bytes(b"mine too")
    (img / "attention.png").write_bytes(PNG_MAGIC + b"an earlier build's")
    docs.build_docs(tmp_path, images=False, log=lambda m: None)
    assert sorted(p.name for p in img.iterdir()) == [".logo.png.abcdefgh.tmp", "logo.png"]
    assert (img / "logo.png").read_bytes() == PNG_MAGIC + b"mine"


def test_docs_refuses_a_folder_of_other_files(tmp_path, monkeypatch, capsys):
    """`docs --out DIR` into a folder of the user's own files (a web site) must not overwrite
    its index.html nor delete its img/*.png as stale pictures; a folder the command wrote
    (with the marker, or an older build recognised by its index.html) is rebuilt."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs
    from nanograd_llm.cli import main
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.course.gpt"])])
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    (site / "index.html").write_text("<h1>my page</h1>", encoding="utf-8")
    (site / "img" / "holiday.png").write_bytes(PNG_MAGIC + b"mine")
    assert main(["docs", "--out", str(site)]) == 1
    err = capsys.readouterr().err
    assert "is not empty" in err and "Traceback" not in err
    assert (site / "index.html").read_text(encoding="utf-8") == "<h1>my page</h1>"
    assert (site / "img" / "holiday.png").read_bytes() == PNG_MAGIC + b"mine"
    assert sorted(p.name for p in site.rglob("*")) == ["holiday.png", "img", "index.html"]
    # through a folder that does not exist yet: the path leads to the same site once it is made
    assert main(["docs", "--out", str(tmp_path / "new" / ".." / "site")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (site / "index.html").read_text(encoding="utf-8") == "<h1>my page</h1>"
    assert not (tmp_path / "new").exists()
    # the temporary file of a marker whose writing was killed, beside the user's files, does
    # not make the folder one to rebuild
    (site / f".{docs.DOCS_MARKER}.abcdefgh.tmp").write_text("")
    assert main(["docs", "--out", str(site)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (site / "index.html").read_text(encoding="utf-8") == "<h1>my page</h1>"

    built = tmp_path / "built"
    docs.build_docs(built, images=False, log=lambda m: None)
    docs.build_docs(built, images=False, log=lambda m: None)       # its own folder: rebuilt
    (built / docs.DOCS_MARKER).unlink()                            # as written before the marker
    docs.build_docs(built, images=False, log=lambda m: None)
    assert (built / docs.DOCS_MARKER).is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    docs.build_docs(empty, images=False, log=lambda m: None)
    assert (empty / "index.html").is_file()


def test_docs_refusal_names_what_the_folder_holds_and_what_it_would_overwrite(tmp_path, capsys):
    """The refusal of a folder of other files said "its files (index.html, style.css,
    img/attention.png, ...) would be overwritten or deleted" whatever the folder held: a user
    whose folder held notes.txt looked there for an index.html it never had. It lists the
    folder's own entries, as the trainer's refusal of a non-empty --out does, and names the
    files that would be written over where there are some; otherwise it says the course would
    be mixed with the folder's files (it said "would overwrite files there" also where no name
    collides)."""
    pytest.importorskip("markdown")
    from nanograd_llm.cli import main
    site = tmp_path / "site"
    (site / "photos").mkdir(parents=True)
    (site / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["docs", "--out", str(site)]) == 1
    err = capsys.readouterr().err
    assert "is not empty" in err and "(notes.txt, photos/)" in err, err
    assert "would be mixed with those files" in err and "overwrite" not in err, err
    assert "its files" not in err, err
    assert sorted(p.name for p in site.iterdir()) == ["notes.txt", "photos"]
    (site / "img").mkdir()
    (site / "img" / "attention.png").write_bytes(PNG_MAGIC + b"mine")
    (site / "index.html").write_text("<h1>my page</h1>", encoding="utf-8")
    (site / "style.css").write_text("body {}", encoding="utf-8")
    assert main(["docs", "--out", str(site)]) == 1
    err = capsys.readouterr().err
    assert "would overwrite index.html, style.css, img/attention.png there" in err, err
    assert (site / "index.html").read_text(encoding="utf-8") == "<h1>my page</h1>"


def test_a_failed_docs_build_leaves_no_half_made_new_folder(tmp_path, monkeypatch, capsys):
    """`docs --out NEW --run BROKEN_RUN` used to leave NEW/ with img/ and the marker file
    behind; a folder that existed before is kept, with its files."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs, viz
    from nanograd_llm.cli import main
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.course.gpt"])])

    def broken_run(img_dir, run_dir=None, log=print, demo_steps=None, skipped=None):
        Path(img_dir).mkdir(parents=True, exist_ok=True)
        (Path(img_dir) / "loss_curve.png").write_bytes(PNG_MAGIC)
        raise ValueError("checkpoint file missing: run/model-1.npz")
    monkeypatch.setattr(viz, "course_images", broken_run)
    assert main(["docs", "--out", str(tmp_path / "new" / "site")]) == 1
    err = capsys.readouterr().err
    assert "checkpoint file missing" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept"
    kept.mkdir()
    assert main(["docs", "--out", str(kept)]) == 1
    assert kept.is_dir()


def test_docs_without_matplotlib_builds_the_pages_without_pictures(tmp_path, monkeypatch):
    """Without matplotlib the course is still written; each picture's note names the extra."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.course.gpt"])])
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    logged = []
    docs.build_docs(tmp_path, log=logged.append)
    page = (tmp_path / "course.gpt.html").read_text(encoding="utf-8")
    assert "<img" not in page and "matplotlib gerekir" in page and ".[plot]" in page
    assert any("pictures skipped" in m and "matplotlib" in m for m in logged)


def test_docs_reports_a_picture_error_that_is_not_a_missing_matplotlib(tmp_path, monkeypatch,
                                                                        capsys):
    """Any RuntimeError while drawing was taken for a missing matplotlib: the pages said
    "matplotlib gerekir" (wrong reason) and dropped even the pictures already drawn, exit 0.
    Another error now stops the build with its own message, as a ValueError does."""
    pytest.importorskip("markdown")
    from nanograd_llm import docs, viz
    from nanograd_llm.cli import main
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.course.gpt"])])

    def tokenizer_needs_regex(img_dir, run_dir=None, log=print, demo_steps=None, skipped=None):
        Path(img_dir).mkdir(parents=True, exist_ok=True)
        (Path(img_dir) / "positional_encoding.png").write_bytes(PNG_MAGIC)
        raise RuntimeError("the BPE tokenizer needs an optional dependency "
                           "(No module named 'regex')")
    monkeypatch.setattr(viz, "course_images", tokenizer_needs_regex)
    with pytest.raises(RuntimeError, match="No module named 'regex'"):
        docs.build_docs(tmp_path / "site", log=lambda m: None)
    assert main(["docs", "--out", str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err
    assert "No module named 'regex'" in err and "matplotlib" not in err
    assert "Traceback" not in err and not (tmp_path / "site").exists()


def test_a_docs_out_that_cannot_be_created_leaves_no_empty_parents(tmp_path, monkeypatch,
                                                                   capsys):
    """`docs --out NEW/deeper/site` on a full disk: mkdir -p made NEW/deeper, failed at site,
    and left the two empty folders behind (run_folder removed them, docs did not); both now
    make the folder through atomic.make_new_folder, which removes them."""
    from nanograd_llm.cli import main
    from _train_helpers import fail_mkdir_after_parents
    out = tmp_path / "new" / "deeper" / "site"
    fail_mkdir_after_parents(monkeypatch, out)
    assert main(["docs", "--out", str(out), "--no-images"]) == 1
    assert capsys.readouterr().err == (f"error: could not write --out {out} (No space left on "
                                       f"device); nothing was written\n")
    assert list(tmp_path.iterdir()) == []


def test_a_docs_out_that_cannot_be_created_gives_trains_message(tmp_path, monkeypatch, capsys):
    """`docs --out DIR` where DIR cannot be made (no permission, full disk) printed the raw
    'error: [Errno 13] Permission denied: …' while `train` says 'could not write --out …;
    nothing was written'; both now get that message from atomic.make_new_folder."""
    import errno

    from nanograd_llm.cli import main
    out = tmp_path / "ro" / "site"
    real_mkdir = Path.mkdir

    def refuse(self, *a, **k):
        if self == out.parent:
            raise OSError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)
    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["docs", "--out", str(out), "--no-images"]) == 1
    assert capsys.readouterr().err == (f"error: could not write --out {out} (Permission denied: "
                                       f"{out.parent}); nothing was written\n")
    assert list(tmp_path.iterdir()) == []


def _full_disk(monkeypatch):
    """Every fsync fails as on a full disk (where a delayed write first reports it)."""
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)


def test_a_full_disk_names_the_page_docs_could_not_write(tmp_path, monkeypatch, capsys):
    """A full disk once --out exists printed 'error: [Errno 28] No space left on device',
    naming no file (only making the folder was worded). The message now names the file and
    what is left: nothing in a folder docs made (it is removed), the earlier file in a course
    being rebuilt (whose files all stay as they were)."""
    from nanograd_llm import docs
    from nanograd_llm.cli import main
    monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.layers.relu"])])
    site = tmp_path / "site"
    with monkeypatch.context() as m:
        _full_disk(m)
        assert main(["docs", "--out", str(site), "--no-images"]) == 1
    assert capsys.readouterr().err == (f"error: could not write {site / docs.DOCS_MARKER} (No "
                                       f"space left on device); nothing was written\n")
    assert not site.exists()
    docs.build_docs(site, images=False, log=lambda m: None)
    before = {p.name: p.read_bytes() for p in site.iterdir()}
    with monkeypatch.context() as m:
        _full_disk(m)
        assert main(["docs", "--out", str(site), "--no-images"]) == 1
    assert capsys.readouterr().err == (f"error: could not write {site / docs.DOCS_MARKER} (No "
                                       f"space left on device); the earlier file is kept\n")
    assert {p.name: p.read_bytes() for p in site.iterdir()} == before


def test_a_full_disk_names_the_picture_attention_could_not_write(tmp_path, monkeypatch,
                                                                 capsys):
    """`attention --out a.png` on a full disk: 'error: [Errno 28] No space left on device'
    without the file; a read-only folder named the hidden temporary file
    ('.a.png.w0t70d1p.tmp'). Both now name the picture and say what is left."""
    pytest.importorskip("matplotlib")
    import errno

    from nanograd_llm import checkpoint as ckpt
    from nanograd_llm.cli import main
    from nanograd_llm.tokenizers import CharTokenizer
    from nanograd_llm.models.gpt import GPT, GPTConfig
    tok = CharTokenizer.from_text("merhaba dünya")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2,
                          n_embd=8), seed=0)
    ckpt.save_checkpoint(tmp_path / "run", model, None, tok, 0)
    out = tmp_path / "a.png"
    words = ["attention", "--ckpt", str(tmp_path / "run"), "--prompt", "merhaba", "--out",
             str(out)]
    with monkeypatch.context() as m:
        _full_disk(m)
        assert main(words) == 1
    assert capsys.readouterr().err == (f"error: could not write {out} (No space left on "
                                       f"device); nothing was written\n")
    assert list(tmp_path.iterdir()) == [tmp_path / "run"]
    out.write_bytes(PNG_MAGIC + b"old")

    def read_only(*a, **k):
        name = os.path.join(k["dir"], k["prefix"] + "w0t70d1p" + k["suffix"])
        raise OSError(errno.EROFS, "Read-only file system", name)
    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", read_only)
        assert main(words) == 1
    assert capsys.readouterr().err == (f"error: could not write {out} (Read-only file "
                                       f"system); the earlier file is kept\n")
    assert out.read_bytes() == PNG_MAGIC + b"old"


def test_a_picture_that_cannot_be_written_leaves_no_empty_folders(tmp_path, monkeypatch,
                                                                 capsys):
    """`attention --out new/deeper/a.png` on a full disk said "nothing was written" but left
    the empty folders new/deeper it had made for the picture; they are now removed, as train
    and docs remove theirs. Folders that were there before stay."""
    pytest.importorskip("matplotlib")
    from nanograd_llm.viz import plot_positional_encoding
    (tmp_path / "there").mkdir()
    out = tmp_path / "there" / "new" / "deeper" / "a.png"
    with monkeypatch.context() as m:
        _full_disk(m)
        with pytest.raises(OSError, match=r"could not write .*a\.png \(No space left on device\); "
                                          r"nothing was written"):
            plot_positional_encoding(out, 8, 8)
        assert [p.name for p in tmp_path.rglob("*")] == ["there"]
        # into the empty folder that was there: it stays
        with pytest.raises(OSError, match="nothing was written"):
            plot_positional_encoding(tmp_path / "there" / "a.png", 8, 8)
    assert [p.name for p in tmp_path.rglob("*")] == ["there"]
    # nor when the drawing is interrupted (Ctrl-C while the picture is written)
    import matplotlib.figure

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    with monkeypatch.context() as m:
        m.setattr(matplotlib.figure.Figure, "savefig", interrupted)
        with pytest.raises(KeyboardInterrupt):
            plot_positional_encoding(out, 8, 8)
    assert [p.name for p in tmp_path.rglob("*")] == ["there"]


def test_a_picture_folder_that_cannot_be_made_is_named(tmp_path, monkeypatch):
    """When the folder for a picture cannot be made (no permission), the message names the
    picture and, as that is where the problem is, the folder that could not be made."""
    pytest.importorskip("matplotlib")
    import errno

    from nanograd_llm.viz import plot_positional_encoding
    locked = tmp_path / "locked"
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if self == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = locked / "a.png"
    with pytest.raises(OSError) as e:
        plot_positional_encoding(out, 8, 8)
    assert str(e.value) == (f"could not write {out} (Permission denied: {locked}); "
                            f"nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_docs_needs_the_extra(tmp_path, monkeypatch):
    from nanograd_llm.docs import build_docs
    monkeypatch.setitem(sys.modules, "markdown", None)
    with pytest.raises(RuntimeError, match=r"\.\[docs\]"):
        build_docs(tmp_path)


def test_cli_docs_and_attention_errors(tmp_path, capsys):
    pytest.importorskip("markdown")
    from nanograd_llm.cli import main
    assert main(["docs", "--out", str(tmp_path / "site"), "--no-images"]) == 0
    assert (tmp_path / "site" / "index.html").is_file()
    (tmp_path / "file").write_text("x")
    assert main(["docs", "--out", str(tmp_path / "file")]) == 1
    assert main(["attention", "--ckpt", str(tmp_path / "missing"), "--prompt", "ab",
                 "--out", str(tmp_path / "a.png")]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert not (tmp_path / "a.png").exists()


# -- the course code runs ---------------------------------------------------------------

def test_primer_sections_run(capsys):
    from nanograd_llm.course.primer import SECTIONS
    assert len(SECTIONS) == 8
    for section in SECTIONS:
        section(np)
    assert "nan" in capsys.readouterr().out      # the naive softmax overflow is shown


def test_primer_python_blocks_run():
    """Any ```python block in the primer's docstring must run too."""
    from nanograd_llm.course import primer
    for block in re.findall(r"```python\n(.*?)```", primer.__doc__, re.S):
        exec(compile(block, "primer-docstring", "exec"), {})


def test_primer_example_script():
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "01_numpy_primer.py")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "Tüm bölümler çalıştı." in r.stdout


def test_primer_example_reports_like_the_other_examples(capsys, monkeypatch):
    """examples/01_numpy_primer.py kept its own `except DeviceError` when the other examples moved
    to cli.report_errors: a reader that leaves early (`| head -2`) or a Ctrl-C ended it with a
    traceback. It now stops as the commands do: one line (or none for the pipe) and 141 / 130."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("example_primer",
                                                  ROOT / "examples" / "01_numpy_primer.py")
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "path", sys.path[:])      # the example puts the checkout on it
    spec.loader.exec_module(example)
    monkeypatch.setattr(sys, "argv", ["01_numpy_primer.py"])
    for error, status in ((BrokenPipeError, 141), (KeyboardInterrupt, 130)):
        def run_all(device, error=error):
            print("[arrays]")
            raise error()
        example.run_all = run_all
        try:
            rc = example.main()
        except BaseException as e:                     # the traceback the script ended with
            rc = type(e).__name__
        assert rc == status
    assert capsys.readouterr().err.endswith("\ninterrupted\n")


def test_bigram_chapter(capsys):
    from nanograd_llm.course import bigram
    res = bigram.demo(steps=150)
    assert res["losses"][-1] < res["losses"][0] - 1.0
    assert res["loss_counts"] < np.log(res["V"])
    assert res["sample"].startswith("b")              # DEMO_TEXT's first character
    # any text: the sample starts from its first character (it needed a "b" in the text)
    other = bigram.demo(text="ayı ile tilki, ayı ile tilki, ayı ile tilki dost olmuş. " * 4,
                        steps=60)
    assert other["sample"].startswith("a")


def test_transformer_chapter():
    from nanograd_llm.course import transformer
    transformer.demo()


def test_gpt_chapter_and_kv_cache_equivalence():
    from nanograd_llm.course import gpt
    from nanograd_llm.models.gpt import GPT, GPTConfig
    gpt.demo()
    model = GPT(GPTConfig(vocab_size=11, block_size=10, n_layer=1, n_head=2, n_embd=8), seed=5)
    a = gpt.generate_greedy(model, [1, 2], 7, use_cache=False)
    b = gpt.generate_greedy(model, [1, 2], 7, use_cache=True)
    assert a == b and len(a) == 9


def test_gpt_chapter_cached_greedy_stops_when_the_cache_is_full():
    """As the chapter says: the short cached path stops once block_size positions are cached
    (the uncached one slides on); up to there both give the same tokens."""
    from nanograd_llm.course import gpt
    from nanograd_llm.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=11, block_size=10, n_layer=1, n_head=2, n_embd=8), seed=5)
    a = gpt.generate_greedy(model, [1, 2], 20, use_cache=False)
    b = gpt.generate_greedy(model, [1, 2], 20, use_cache=True)
    assert len(a) == 22 and len(b) == 11 and b == a[:11]


@pytest.mark.parametrize("kw", [{}, {"tie_weights": False}, {"positional": "sinusoidal"},
                                {"tie_weights": False, "positional": "sinusoidal"}])
def test_gpt_chapter_parameter_count_formula_matches_the_model(kw):
    from nanograd_llm.course.gpt import count_params
    from nanograd_llm.models.gpt import GPT, GPTConfig
    cfg = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=8, **kw)
    assert count_params(cfg) == GPT(cfg).flat.size


def test_adamw_and_schedule():
    from nanograd_llm.course.gpt import AdamW, lr_at
    from nanograd_llm.models.gpt import GPT, GPTConfig
    assert lr_at(0, 1.0, 10, 100) == pytest.approx(0.1)
    assert lr_at(9, 1.0, 10, 100) == pytest.approx(1.0)
    assert lr_at(55, 1.0, 10, 100, 0.0) == pytest.approx(0.5)
    assert lr_at(100, 1.0, 10, 100, 0.1) == pytest.approx(0.1)
    model = GPT(GPTConfig(vocab_size=7, block_size=4, n_layer=1, n_head=1, n_embd=4))
    before = model.flat.copy()
    model.grad_flat[...] = 0.0
    AdamW(model, lr=0.1, weight_decay=0.5).step()
    nd = model.n_decay
    # zero gradient: only the decay acts, and only on the matrices
    assert np.allclose(model.flat[:nd], before[:nd] * (1 - 0.1 * 0.5))
    assert np.array_equal(model.flat[nd:], before[nd:])


# -- pictures ----------------------------------------------------------------------------

def _stub_drawing(monkeypatch) -> list:
    """Replace viz's three drawing functions with stubs that only record the picture's file
    name; -> that list."""
    from nanograd_llm import viz
    drawn = []

    def stub(*args, **kw):
        out = next(a for a in args if isinstance(a, Path) and a.suffix == ".png")
        drawn.append(out.name)
        return out
    for name in ("plot_positional_encoding", "plot_loss_curve", "plot_attention"):
        monkeypatch.setattr(viz, name, stub)
    return drawn


def _fake_run(run: Path, monkeypatch, load_model, tokenizer) -> Path:
    """A run folder holding five train-loss records, whose model and tokenizer come from
    load_model / tokenizer instead of checkpoint files (nanograd_llm.checkpoint stubbed)."""
    import types
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"step": s, "loss": 3.0 - 0.1 * s}) for s in range(5)))
    fake_ckpt = types.ModuleType("nanograd_llm.checkpoint")
    fake_ckpt.load_model = load_model
    fake_ckpt.load_run_tokenizer = lambda path, model=None: tokenizer
    monkeypatch.setitem(sys.modules, "nanograd_llm.checkpoint", fake_ckpt)
    return run


def _tiny_model_and_vocab():
    from nanograd_llm.course.gpt import CharVocab
    from nanograd_llm.models.gpt import GPT, GPTConfig
    vocab = CharVocab("merhaba dünya, ağaç ışık")
    model = GPT(GPTConfig(vocab_size=vocab.vocab_size, block_size=16, n_layer=2, n_head=2,
                          n_embd=8), seed=0)
    return model, vocab


def test_attention_weights_are_causal_distributions():
    from nanograd_llm.viz import attention_weights
    model, vocab = _tiny_model_and_vocab()
    model.train()
    atts = attention_weights(model, vocab.encode("merhaba"))
    assert model.training                          # the mode is restored
    assert len(atts) == 2 and atts[0].shape == (2, 7, 7)
    for a in atts:
        assert np.allclose(a.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(a, k=1) == 0.0)
    with pytest.raises(ValueError, match="block_size"):
        attention_weights(model, [0] * 17)


def test_attention_weights_prompt_edges_and_eval_mode():
    """A prompt of exactly block_size tokens is drawn, an empty one is refused; a model in
    eval mode stays in eval mode (dropout off for whatever the caller does next)."""
    from nanograd_llm.viz import attention_weights
    model, _ = _tiny_model_and_vocab()
    model.eval()
    assert attention_weights(model, [1] * 16)[0].shape == (2, 16, 16)
    assert not model.training
    with pytest.raises(ValueError, match="the prompt is empty"):
        attention_weights(model, [])


def test_small_pieces_of_the_pictures(tmp_path):
    """Token labels up to 6 characters are kept whole; the positional-encoding picture needs
    n_embd >= 2 (checked before anything is drawn)."""
    from nanograd_llm.viz import _token_labels, plot_positional_encoding
    assert _token_labels(None, [123456, 1234567, 7]) == ["123456", "12345…", "7"]
    with pytest.raises(ValueError, match="n_embd >= 2"):
        plot_positional_encoding(tmp_path / "pe.png", n_embd=1)
    assert not (tmp_path / "pe.png").exists()


def test_read_metrics_takes_iter_and_loss_and_skips_what_cannot_be_drawn(tmp_path):
    from nanograd_llm.viz import read_metrics
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join([
        '{"iter": 1, "loss": 3.5}',                          # older field names
        '[1, 2, 3]',                                          # not a record: skipped
        '{"step": 2, "train_loss": NaN, "val_loss": 3.0}',    # a NaN is not drawn
        '{"step": 3, "train_loss": Infinity}',
        '{"step": 4, "train_loss": 2.5, "val_loss": 2.75}']) + "\n", encoding="utf-8")
    assert read_metrics(path) == ([(1, 3.5), (4, 2.5)], [(2, 3.0), (4, 2.75)])


def test_metrics_records_whose_step_is_no_number_are_not_drawn(tmp_path):
    """read_metrics took any step: `docs --run` on a metrics.jsonl with "step": [1] stopped
    with numpy's 'setting an array element with a sequence', {"a": 1} with a TypeError
    traceback, 10**400 (or a loss of 10**400) with an OverflowError traceback, and "abc" was
    drawn as a label on the step axis → a record whose step is not a finite number is left
    out, like a loss that is not one."""
    from nanograd_llm.viz import read_metrics
    path = tmp_path / "metrics.jsonl"
    odd = ['[1]', '{"a": 1}', '"abc"', 'true', str(10 ** 400), 'null']
    path.write_text("".join(f'{{"step": {v}, "train_loss": 1.5, "val_loss": 2.0}}\n'
                            for v in odd)
                    + f'{{"step": 1, "train_loss": {10 ** 400}, "val_loss": 2.5}}\n'
                    + '{"step": 2, "train_loss": 1.25}\n', encoding="utf-8")
    assert read_metrics(path) == ([(2, 1.25)], [(1, 2.5)])
    pytest.importorskip("matplotlib")
    from nanograd_llm.viz import plot_loss_curve
    assert plot_loss_curve(path, tmp_path / "loss.png").read_bytes().startswith(PNG_MAGIC)


def test_dollar_signs_in_token_labels_and_titles_are_drawn_as_text(tmp_path):
    """Matplotlib reads text between two "$" as a TeX formula: an attention picture whose
    tokens include "$$" (a GPT-2 token) or "$x^$", or a title with such a run folder's name,
    stopped `attention` and `docs --run` with 'ValueError: $$ ^ ParseException: Expected end
    of text' → labels and titles are plain text."""
    pytest.importorskip("matplotlib")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    from nanograd_llm.viz import plot_attention, plot_loss_curve
    tok = BPETokenizer.train("$$ $x^$ " * 50, 261)
    prompt = "$$ $x^$"
    assert "$$" in [tok.decode([i]) for i in tok.encode(prompt)]
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1,
                          n_embd=8), seed=0)
    png = plot_attention(model, tok, prompt, tmp_path / "a.png", title="run $x^$")
    assert png.read_bytes().startswith(PNG_MAGIC)
    m = tmp_path / "metrics.jsonl"
    m.write_text('{"step": 1, "train_loss": 2.0, "val_loss": 2.5}\n', encoding="utf-8")
    png = plot_loss_curve(m, tmp_path / "l.png", title="Kayıp eğrisi: $\\foo$")
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_the_prompt_of_a_run_picture_fits_the_model():
    """The attention picture of a --run uses a sample text the tokenizer encodes, cut at a word
    boundary to min(24, block_size) tokens; a text of exactly that length is taken whole; when
    none encodes, the vocabulary's first tokens."""
    import types

    from nanograd_llm.tokenizers import CharTokenizer
    from nanograd_llm.viz import _run_prompt
    hamlet = CharTokenizer.from_text("To be, or not to be, that is the question")
    assert _run_prompt(types.SimpleNamespace(block_size=64), hamlet) == "To be, or not to be,"
    assert _run_prompt(types.SimpleNamespace(block_size=10), hamlet) == "To be, or"
    fox = CharTokenizer.from_text("the quick brown fox")           # the last text only
    assert _run_prompt(types.SimpleNamespace(block_size=19), fox) == "the quick brown fox"
    assert _run_prompt(types.SimpleNamespace(block_size=18), fox) == "the quick brown"
    tiny = CharTokenizer.from_text("ab ")                           # encodes none of them
    assert _run_prompt(types.SimpleNamespace(block_size=2), tiny) == tiny.decode([0, 1])


def test_loss_curve_marks_the_lowest_val_loss_and_takes_an_upper_case_suffix(tmp_path,
                                                                            monkeypatch):
    pytest.importorskip("matplotlib")
    from nanograd_llm import viz
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "train_loss": 3.0, "val_loss": v}) + "\n"
                            for s, v in ((0, 3.0), (2, 2.0), (4, 2.5))), encoding="utf-8")
    figs = []
    real_save = viz._save
    monkeypatch.setattr(viz, "_save", lambda fig, out: figs.append(fig) or real_save(fig, out))
    out = viz.plot_loss_curve(path, tmp_path / "loss.PNG")
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert [t.get_text() for t in figs[0].axes[0].texts] == ["en düşük: 2,000 (adım 2)"]


def test_course_images_pass_demo_steps_and_note_a_bigram_run(tmp_path, monkeypatch):
    """(Drawing stubbed out.) demo_steps reaches the demo training; a bigram --run gets no
    attention picture and its reason is recorded for the page."""
    from nanograd_llm import checkpoint as ckpt
    from nanograd_llm import viz
    from nanograd_llm.course import gpt as course_gpt
    from nanograd_llm.tokenizers import CharTokenizer
    drawn = _stub_drawing(monkeypatch)
    asked = []
    monkeypatch.setattr(course_gpt, "train_demo",
                        lambda metrics, steps=None: asked.append(steps) or ("M", "V"))
    assert len(viz.course_images(tmp_path / "img", log=lambda m: None, demo_steps=3)) == 3
    assert asked == [3] and drawn == ["positional_encoding.png", "loss_curve.png",
                                      "attention.png"]
    tok = CharTokenizer.from_text("abc ")
    run = tmp_path / "bigram_run"
    ckpt.save_checkpoint(run, ckpt.build_model({"model": "bigram", "vocab_size": 4}), None,
                         tok, 0)
    (run / "metrics.jsonl").write_text('{"step": 0, "train_loss": 1.0}\n', encoding="utf-8")
    skipped, drawn[:] = {}, []
    viz.course_images(tmp_path / "img2", run_dir=run, log=lambda m: None, skipped=skipped)
    assert drawn == ["positional_encoding.png", "loss_curve.png"]
    assert "bigram" in skipped["attention.png"]


def test_a_run_that_cannot_be_read_leaves_the_earlier_pictures_alone(tmp_path, monkeypatch):
    """(Drawing stubbed out.) `docs --out SITE --run RUN` over an earlier course, with RUN's
    checkpoint corrupt, drew RUN's loss curve over SITE's before the checkpoint was read, then
    stopped with the error: SITE was left with the loss curve of one run beside the attention
    map of another. Every input is now read before the first picture is written."""
    import types

    from nanograd_llm import viz
    drawn = _stub_drawing(monkeypatch)
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 0, "train_loss": 1.0}\n', encoding="utf-8")

    def corrupt(path, device="cpu"):
        raise ValueError(f"checkpoint file {path}/model.npz is corrupt or truncated")
    fake_ckpt = types.ModuleType("nanograd_llm.checkpoint")
    fake_ckpt.load_model = corrupt
    fake_ckpt.load_run_tokenizer = lambda path, model=None: None
    monkeypatch.setitem(sys.modules, "nanograd_llm.checkpoint", fake_ckpt)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        viz.course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    assert drawn == []
    (run / "metrics.jsonl").write_text('{"step": 0, "train_loss": 1.0}\n{oops\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2"):
        viz.course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    assert drawn == []


def test_docs_run_refuses_tokenizer_files_that_do_not_match_the_checkpoint(tmp_path,
                                                                          monkeypatch):
    """(Drawing stubbed out.) `docs --run` read the run's tokenizer without the checks of
    `attention` and `sample` (the sha256 digests in checkpoint.json, the model's vocabulary):
    with tokenizer.json changed (two characters swapped, or the files of another run) it
    labelled the attention map with the wrong characters, while `attention` refused."""
    from nanograd_llm import checkpoint as ckpt
    from nanograd_llm import viz
    from nanograd_llm.models.gpt import GPT, GPTConfig
    from nanograd_llm.tokenizers import CharTokenizer
    drawn = []
    for name in ("plot_positional_encoding", "plot_loss_curve", "plot_attention"):
        monkeypatch.setattr(viz, name, lambda *a, **k: drawn.append(a))
    tok = CharTokenizer.from_text("merhaba dünya")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2,
                          n_embd=8), seed=0)
    run = tmp_path / "run"
    ckpt.save_checkpoint(run, model, None, tok, 0)
    (run / "metrics.jsonl").write_text('{"step": 0, "train_loss": 1.0}\n', encoding="utf-8")
    data = json.loads((run / "tokenizer.json").read_text(encoding="utf-8"))
    chars = data["chars"]
    i, j = chars.index("a"), chars.index("e")
    chars[i], chars[j] = chars[j], chars[i]
    (run / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="does not match checkpoint.json"):
        viz.course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    assert drawn == []
    # a checkpoint that recorded no digests (an older save), beside the tokenizer of another
    # run with more tokens than the model has rows
    m = json.loads((run / ckpt.MANIFEST).read_text(encoding="utf-8"))
    del m["tokenizer_sha256"]
    (run / ckpt.MANIFEST).write_text(json.dumps(m), encoding="utf-8")
    CharTokenizer.from_text("merhaba dünya, nasılsın?").save(run)
    with pytest.raises(ValueError, match=r"the tokenizer has \d+ tokens but the model's "
                                         r"vocabulary has only \d+"):
        viz.course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    assert drawn == []


def test_attention_weights_from_the_tiled_path_are_full_causal_distributions():
    """From T = 128 the CPU attention runs by query tiles; the maps must still be (nh, T, T)."""
    from nanograd_llm.models.gpt import GPT, GPTConfig
    from nanograd_llm.viz import attention_weights
    model = GPT(GPTConfig(vocab_size=11, block_size=160, n_layer=1, n_head=2, n_embd=8), seed=0)
    ids = np.random.default_rng(0).integers(0, 11, 150)
    (a,) = attention_weights(model, ids)
    assert a.shape == (2, 150, 150)
    assert np.allclose(a.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(a, k=1) == 0.0)
    assert np.all(a[:, np.tril_indices(150)[0], np.tril_indices(150)[1]] > 0.0)


def test_attention_maps_of_non_finite_weights_are_an_error(tmp_path):
    """A NaN weight made every map after it NaN, which imshow leaves blank: `attention` drew
    blank pictures and exited 0. The maps now pass the check sample's logits and eval's losses
    pass (backend.check_finite_output): an error naming the first bad layer, no picture."""
    from nanograd_llm.backend import NonFiniteOutput
    from nanograd_llm.viz import attention_weights, plot_attention
    model, vocab = _tiny_model_and_vocab()
    model.params["h.1.attn.c_attn.weight"][0, 0] = np.nan
    with pytest.raises(NonFiniteOutput, match=r"^the model produced non-finite attention "
                                              r"weights \(NaN or inf\) in layer 1; its weights "
                                              r"may have diverged$"):
        attention_weights(model, vocab.encode("merhaba"))
    model.params["wte.weight"][vocab.encode("m")[0], 0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite attention weights .* in layer 0"):
        plot_attention(model, vocab, "merhaba", tmp_path / "att.png")
    assert not (tmp_path / "att.png").exists()
    # a NaN the maps do not depend on (the last layer norm) leaves them right: no error
    model, vocab = _tiny_model_and_vocab()
    expected = attention_weights(model, vocab.encode("merhaba"))
    model.params["ln_f.weight"][...] = np.nan
    for a, b in zip(attention_weights(model, vocab.encode("merhaba")), expected):
        np.testing.assert_array_equal(a, b)

def test_plot_attention_png(tmp_path):
    pytest.importorskip("matplotlib")
    from nanograd_llm.viz import plot_attention
    model, vocab = _tiny_model_and_vocab()
    out = plot_attention(model, vocab, "ağaç ışık", tmp_path / "att.png")
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000
    out2 = plot_attention(model, None, [1, 2, 3], tmp_path / "ids.png")
    assert out2.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        plot_attention(model, vocab, "xyz", tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_plot_positional_encoding_png(tmp_path):
    pytest.importorskip("matplotlib")
    from nanograd_llm.viz import plot_positional_encoding
    data = plot_positional_encoding(tmp_path / "pe.png", 32, 16).read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_plot_loss_curve_png_and_bad_metrics(tmp_path):
    pytest.importorskip("matplotlib")
    from nanograd_llm.viz import plot_loss_curve, read_metrics
    m = tmp_path / "metrics.jsonl"
    lines = [{"step": s, "train_loss": 4.0 - 0.01 * s} for s in range(120)]
    lines += [{"step": s, "val_loss": 4.1 - 0.008 * s} for s in range(0, 120, 20)]
    lines.append({"step": 5, "note": "no losses here"})
    m.write_text("\n".join(json.dumps(l) for l in lines) + "\n\n")
    train, val = read_metrics(m)
    assert len(train) == 120 and len(val) == 6
    data = plot_loss_curve(m, tmp_path / "loss.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "train_loss": 2.0}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_metrics(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"step": 1}\n')
    with pytest.raises(ValueError, match="no train_loss"):
        plot_loss_curve(empty, tmp_path / "x.png")


def test_a_last_row_cut_by_a_crash_is_left_out(tmp_path):
    """A write cut off by a crash leaves a last line without its newline: `docs --run` refused
    the whole run ("metrics.jsonl:3: not valid JSON") although the trainer's own reader skips
    it. That line is now left out; a broken complete line is still an error."""
    from nanograd_llm.viz import read_metrics
    m = tmp_path / "metrics.jsonl"
    rows = "".join(json.dumps({"step": s, "train_loss": 3.0 - s, "val_loss": 3.1 - s}) + "\n"
                   for s in (0, 1))
    m.write_text(rows + '{"step": 2, "train_lo')
    assert read_metrics(m) == ([(0, 3.0), (1, 2.0)], [(0, 3.1), (1, 2.1)])
    m.write_bytes(rows.encode() + b"\0" * 40)             # a tail of zeros (power loss)
    assert read_metrics(m)[0] == [(0, 3.0), (1, 2.0)]
    m.write_text('{"step": 2, "train_lo\n' + rows)
    with pytest.raises(ValueError, match=r"metrics\.jsonl:1: not valid JSON"):
        read_metrics(m)


def test_a_bad_metrics_line_is_located_by_a_1_based_column(tmp_path):
    """read_metrics said 'line 3 ... at byte 12': a 0-based byte index beside a 1-based line
    number, read as column 12 by anyone who opens the file. The place is now a 1-based column in
    characters, as editors count it, also after non-ASCII text and a line's leading spaces."""
    from nanograd_llm.viz import read_metrics
    m = tmp_path / "metrics.jsonl"
    ok = json.dumps({"step": 0, "train_loss": 3.0}) + "\n"
    m.write_bytes(ok.encode() + '{"ğ": "é", '.encode() + b"\xff\n" + ok.encode())
    with pytest.raises(ValueError, match=r"jsonl:2: not UTF-8 text \(byte 0xff, invalid start "
                                         r"byte, column 12\)$"):
        read_metrics(m)                     # {"ğ": "é", is 11 characters (13 bytes)
    m.write_text(ok + '  {"ş": 1,, }\n' + ok, encoding="utf-8")
    with pytest.raises(ValueError, match=r"jsonl:2: not valid JSON \(Expecting property name "
                                         r"enclosed in double quotes, column 11\)$"):
        read_metrics(m)                     # the second comma, after two spaces


def test_a_metrics_file_with_bytes_that_are_not_utf8_names_the_file_and_line(tmp_path):
    """A metrics.jsonl with a byte that is not UTF-8 (a damaged disk block) stopped `docs --run`
    with "error: 'utf-8' codec can't decode byte 0xff in position 96", naming neither the file
    nor the line. Such a line is now treated like any line that is not JSON: the file and line
    are named, and a last line cut without its newline is left out."""
    from nanograd_llm.viz import read_metrics
    m = tmp_path / "metrics.jsonl"
    rows = "".join(json.dumps({"step": s, "train_loss": 3.0 - s, "val_loss": 3.1 - s}) + "\n"
                   for s in (0, 1))
    m.write_bytes(rows.encode() + b'{"step": 2, \xff\xfe\n' + rows.encode())
    with pytest.raises(ValueError, match=r"metrics\.jsonl:3: not UTF-8 text \(byte 0xff, invalid "
                                         r"start byte, column 13\)$"):
        read_metrics(m)
    m.write_bytes(rows.encode() + b"\xff\xfe\x00garbage")       # a damaged, unfinished tail
    assert read_metrics(m) == ([(0, 3.0), (1, 2.0)], [(0, 3.1), (1, 2.1)])


# -- a real headless browser -------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_pages_render_in_headless_chromium(built_docs, tmp_path):
    out, _, _ = built_docs
    profile = tmp_path / "profile"
    shot = tmp_path / "linear.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
           f"--screenshot={shot}", "--window-size=1400,1000",
           (out / "layers.linear.html").resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=90,
                       env={**os.environ, "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    mpimg = pytest.importorskip("matplotlib.image")
    img = mpimg.imread(shot)
    assert img.shape[:2] == (1000, 1400)
    # not a blank page: the left column holds dark text, the right column the grey code area
    left, right = img[:, :600, :3], img[:, 800:, :3]
    assert (left.mean(axis=2) < 0.3).mean() > 0.005
    assert right.std() > 0.01


# -- the Turkish README ------------------------------------------------------------------

def test_readme_tr_lists_every_chapter_and_the_two_commands():
    from nanograd_llm.course import CHAPTERS
    from nanograd_llm.docs import module_source
    text = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    assert "pip install -e . && nanograd-llm train" in text
    assert 'pip install -e ".[test]" && python3 -m pytest -q' in text
    assert_turkish(text, "README.tr.md")
    links = re.findall(r"\]\((nanograd_llm/[\w/]+\.py)\)", text)
    chapter_files = {m.replace(".", "/") + ".py": m for m in CHAPTERS}
    for link in links:
        assert (ROOT / link).is_file() or link in chapter_files, f"README.tr.md: dead link {link}"
    linked = [chapter_files[l] for l in links if l in chapter_files]
    assert linked == CHAPTERS                          # every chapter, in course order
    for m in CHAPTERS:
        if module_source(m) is not None:
            assert (ROOT / (m.replace(".", "/") + ".py")).is_file()


def _line_commands(text: str) -> set[str]:
    """The nanograd-llm subcommands `text` shows as commands to type (lines of a code block
    that begin with `nanograd-llm NAME`, also after `&&`), not the ones only named in prose."""
    names = set()
    for line in text.splitlines():
        for part in line.strip().split(" && "):
            m = re.match(r"nanograd-llm ([a-z]+)\b", part)
            if m:
                names.add(m.group(1))
    return names


def test_readme_tr_shows_every_command_readme_shows():
    """A reader of README.tr.md alone learns every command README.md has them type, `sample`
    and `chat` included (before, README.tr.md showed neither: the Turkish reader met `sample`
    only in the output of a finished training), and the first sample command opens the run the
    page's first training command writes. README.tr.md said nothing of GPT-2 folders, which
    README.md shows with `--hf` and `--init-from`: a Turkish-only reader now learns both."""
    from nanograd_llm.cli import build_parser
    en = (ROOT / "README.md").read_text(encoding="utf-8")
    tr = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    missing = _line_commands(en) - _line_commands(tr)
    assert not missing, f"README.tr.md never shows: {sorted(missing)}"
    parser = build_parser()
    samples = _shown_commands(tr, "nanograd-llm sample")
    assert parser.parse_args(samples[0][1:]).ckpt == "out/default"
    for option in ("--hf", "--init-from"):
        shown = re.compile(rf"^\s*nanograd-llm [a-z]+ .*{option} ", re.M)
        assert shown.search(en), option
        assert shown.search(tr), f"README.tr.md never shows {option}"


def test_readme_tr_names_every_module_readme_names():
    """Each file of the package that README.md names (`nanograd_llm/x.py`, also in its
    `{a,b}.py` form) is named in README.tr.md too: README.tr.md never named atomic.py, whose
    writes every output of the project goes through (README.md's module table explains it, and
    it is no chapter of the course)."""
    en = (ROOT / "README.md").read_text(encoding="utf-8")
    tr = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    named = set(re.findall(r"nanograd_llm/[\w/]+\.py", en))
    for names in re.findall(r"nanograd_llm/\{([\w,]+)\}\.py", en):
        named |= {f"nanograd_llm/{n}.py" for n in names.split(",")}
    assert len(named) >= 15
    for path in named:
        assert (ROOT / path).is_file(), f"README.md names {path}, which does not exist"
    missing = sorted(p for p in named if p not in tr and f"`{p.split('/')[-1]}" not in tr)
    assert not missing, f"README.tr.md never names {missing}"


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_no_line_of_a_readme_paragraph_starts_a_list_or_a_heading(readme):
    """A paragraph line that begins with "+ ", "- ", "* ", "1. ", "# " or a row of "=" or "-"
    is, in Markdown (GitHub's CommonMark), a list or a heading that cuts the paragraph:
    README.tr.md's BPE paragraph wrapped "`şeker`'i `s` + işaret" so that the next line began
    "+ `eker` diye keser", and GitHub showed the rest of the paragraph as a bullet list. A list
    written as one starts after a blank line or a bold line of its own (Bölümler)."""
    block = re.compile(r"^(?:[-+*]|\d+[.)])\s|^#{1,6}\s|^(?:=+|-+)\s*$|^>")
    text = (ROOT / readme).read_text(encoding="utf-8")
    bad, fenced, prose = [], False, False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced, prose = not fenced, False
            continue
        if fenced:
            continue
        if prose and block.match(line):
            bad.append(f"{readme}:{n}: {line[:40]}")
        prose = bool(line.strip()) and not line.startswith((" ", "|", "#")) \
            and not block.match(line) and not re.fullmatch(r"\*\*[^*]+\*\*", line.strip())
    assert not bad, bad


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_every_command_a_readme_shows_parses(readme):
    """Each `nanograd-llm ...` line a README shows to type (not a synopsis with [...]) is one
    the CLI accepts: a misspelt or removed option in either page is caught here."""
    from nanograd_llm.cli import build_parser
    parser = build_parser()
    text = (ROOT / readme).read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)                # a command continued with \
    commands = [argv for argv in _shown_commands(text, "nanograd-llm ")
                if not any(w.startswith("[") for w in argv)]
    assert len(commands) >= 10, commands
    for argv in commands:
        try:
            parser.parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"{readme}: {' '.join(argv)!r} is not a valid command")


@pytest.mark.parametrize("where", ["README.md", "README.tr.md", "examples/train_char_gpt.py",
                                   "examples/bigram_text.py"])
def test_docs_that_train_on_a_named_corpus_say_it_is_downloaded_and_where_it_is_kept(where):
    """A page whose commands train on a named corpus (`--data seyfettin`, `tinyshakespeare`)
    says that it is downloaded on first use, where the copy is cached and what to do offline;
    README.tr.md and the examples said none of it (only the offline error message did)."""
    import ast

    from nanograd_llm.data import CORPORA
    text = (ROOT / where).read_text(encoding="utf-8")
    if where.endswith(".py"):
        text = ast.get_docstring(ast.parse(text))
    code = "\n".join(l for l in text.splitlines() if l.startswith(("    ", "nanograd-llm ")))
    assert any(re.search(rf"(--data |\.py ){name}\b", code) for name in CORPORA), where
    flat = " ".join(text.split())
    if where == "README.md":
        assert "downloaded on first use" in flat and "offline" in flat
    else:
        assert "ilk kullanımda indirilir" in flat and "Ağ bağlantısı yoksa" in flat
    for place in ("$NANOGRAD_LLM_DATA_DIR", "$XDG_CACHE_HOME/nanograd_llm",
                  "~/.cache/nanograd_llm"):
        assert place in flat, (where, place)


def test_course_images_from_a_run_folder(tmp_path, monkeypatch):
    """With --run, the loss curve and attention maps come from the run's own files."""
    pytest.importorskip("matplotlib")
    import types

    from nanograd_llm.viz import _run_prompt, course_images
    model, vocab = _tiny_model_and_vocab()
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"step": s, "loss": 3.0 - 0.1 * s, **({"val_loss": 3.1 - 0.1 * s}
                                                                   if s % 5 == 0 else {})})
                  for s in range(20)))
    fake_ckpt = types.ModuleType("nanograd_llm.checkpoint")
    fake_ckpt.load_model = lambda path, device="cpu": model
    monkeypatch.setitem(sys.modules, "nanograd_llm.checkpoint", fake_ckpt)
    fake_ckpt.load_run_tokenizer = lambda path, model=None: vocab
    assert set(_run_prompt(model, vocab)) <= set(vocab.chars)
    made = course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    assert [p.name for p in made] == ["positional_encoding.png", "loss_curve.png", "attention.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in made)
    with pytest.raises(ValueError, match="metrics.jsonl"):
        course_images(tmp_path / "img2", run_dir=tmp_path / "nothing", log=lambda m: None)


def test_course_images_from_a_run_folder_write_nothing_to_the_temporary_folder(tmp_path,
                                                                               monkeypatch):
    """`docs --run` draws from the run's files: it needs no temporary folder (only the demo
    training writes its metrics there), so a full or missing system temporary folder does not
    stop it."""
    pytest.importorskip("matplotlib")
    import tempfile

    from nanograd_llm.viz import course_images
    model, vocab = _tiny_model_and_vocab()
    run = _fake_run(tmp_path / "run", monkeypatch, lambda path, device="cpu": model, vocab)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-temporary-folder"))
    made = course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    assert [p.name for p in made] == ["positional_encoding.png", "loss_curve.png", "attention.png"]


def test_the_loss_curve_of_docs_run_is_drawn_from_the_records_it_checked(tmp_path, monkeypatch):
    """`docs --run` read metrics.jsonl to check it, loaded the model, then read the file again
    to draw the curve: a run started meanwhile in that folder with --overwrite (which deletes
    the log and writes its own) gave a loss curve of that new run beside the attention map of
    the loaded model, or stopped a checked folder halfway with 'No such file or directory'.
    The curve is now drawn from the records that were checked."""
    pytest.importorskip("matplotlib")
    import types

    from nanograd_llm import viz
    model, vocab = _tiny_model_and_vocab()
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"step": s, "loss": 3.0 - 0.1 * s}) for s in range(5)))

    def load_model(path, device="cpu"):
        (run / "metrics.jsonl").write_text('{"step": 0, "train_loss": 9.0}\n')   # a new run
        return model
    fake_ckpt = types.ModuleType("nanograd_llm.checkpoint")
    fake_ckpt.load_model = load_model
    fake_ckpt.load_run_tokenizer = lambda path, model=None: vocab
    monkeypatch.setitem(sys.modules, "nanograd_llm.checkpoint", fake_ckpt)
    figures = {}
    real_save = viz._save

    def save(fig, out_png):
        figures[Path(out_png).name] = fig
        return real_save(fig, out_png)
    monkeypatch.setattr(viz, "_save", save)
    viz.course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    line = figures["loss_curve.png"].axes[0].lines[0]
    assert list(line.get_xdata()) == [0, 1, 2, 3, 4]
    assert np.allclose(line.get_ydata(), [3.0 - 0.1 * s for s in range(5)])


def test_course_images_skip_the_attention_map_of_a_run_with_non_finite_weights(tmp_path,
                                                                              monkeypatch):
    """`docs --run` on a run whose weights hold NaN drew a blank attention map. Now its picture
    is skipped like a bigram run's, with the reason on the page; the other pictures are drawn."""
    pytest.importorskip("matplotlib")

    from nanograd_llm.viz import course_images
    model, vocab = _tiny_model_and_vocab()
    model.flat[...] = np.nan
    run = _fake_run(tmp_path / "run", monkeypatch, lambda path, device="cpu": model, vocab)
    skipped, logged = {}, []
    made = course_images(tmp_path / "img", run_dir=run, log=logged.append, skipped=skipped)
    assert [p.name for p in made] == ["positional_encoding.png", "loss_curve.png"]
    assert not (tmp_path / "img" / "attention.png").exists()
    assert skipped == {"attention.png": "run eğitiminin ağırlıkları NaN ya da sonsuz "
                                        "değerler içeriyor; dikkat haritası çizilemedi"}
    assert any("non-finite attention weights" in m and "skipped" in m for m in logged)

def test_course_images_from_a_run_folder_with_a_non_utf8_name(tmp_path, monkeypatch):
    """A run folder whose name has non-UTF-8 bytes (`train --out $'run\\xff'` makes one) is
    drawn with U+FFFD in the titles; the lone surrogate made matplotlib's font code raise a
    TypeError, so `docs --run` ended with a traceback."""
    pytest.importorskip("matplotlib")

    from nanograd_llm.viz import course_images
    model, vocab = _tiny_model_and_vocab()
    run = _fake_run(tmp_path / os.fsdecode(b"run\xff"), monkeypatch,
                    lambda path, device="cpu": model, vocab)
    made = course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    assert [p.name for p in made] == ["positional_encoding.png", "loss_curve.png", "attention.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in made)


def test_attention_pictures_refuse_a_bigram_and_unknown_formats(tmp_path):
    pytest.importorskip("matplotlib")
    from nanograd_llm import BigramLM
    from nanograd_llm.viz import plot_attention
    with pytest.raises(ValueError, match="no attention layers"):
        plot_attention(BigramLM(5), None, [1, 2], tmp_path / "b.png")
    model, vocab = _tiny_model_and_vocab()
    with pytest.raises(ValueError, match=r"must end in \.png"):
        plot_attention(model, None, [1, 2, 3], tmp_path / "x.jpg")
    assert plot_attention(model, None, [1, 2, 3], tmp_path / "x.svg").read_text().find("<svg") >= 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.svg"]
    (tmp_path / "d.png").mkdir()
    with pytest.raises(IsADirectoryError, match="d.png is a folder; give a file name"):
        plot_attention(model, None, [1, 2, 3], tmp_path / "d.png")
    with pytest.raises(NotADirectoryError, match="x.svg is a file, not a folder"):
        plot_attention(model, None, [1, 2, 3], tmp_path / "x.svg" / "sub" / "a.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "x.svg"]


def _drawn_token_labels(monkeypatch, tmp_path, tokenizer, prompt):
    """The x and y tick labels plot_attention draws on its first heatmap."""
    from nanograd_llm import viz
    from nanograd_llm.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=max(tokenizer.encode(prompt)) + 1, block_size=16,
                          n_layer=1, n_head=2, n_embd=8), seed=0)
    figs = []
    real = viz._save
    monkeypatch.setattr(viz, "_save", lambda fig, out: (figs.append(fig), real(fig, out))[1])
    viz.plot_attention(model, tokenizer, prompt, tmp_path / "a.png")
    ax = figs[0].axes[0]
    xs = [t.get_text() for t in ax.get_xticklabels()]
    assert xs == [t.get_text() for t in ax.get_yticklabels()]
    return xs


def test_attention_labels_show_unprintable_characters(tmp_path, monkeypatch):
    """A token of a carriage return, a vertical tab, a no-break space or a zero-width space was
    labelled with the raw character, which the picture draws as nothing (or a missing-glyph
    box): the token looked unlabelled. They are written as Python escapes; space, newline and
    tab keep their symbols."""
    pytest.importorskip("matplotlib")
    chars = "a\r\x0b\xa0\u200b \n\tğ"

    class Tok:
        def encode(self, text):
            return [chars.index(c) for c in text]

        def decode(self, ids):
            return chars[ids[0]]
    assert _drawn_token_labels(monkeypatch, tmp_path, Tok(), chars) == [
        "a", "\\r", "\\x0b", "\\xa0", "\\u200b", "␣", "↵", "⇥", "ğ"]


def test_attention_labels_of_partial_utf8_byte_tokens_show_their_bytes(tmp_path, monkeypatch):
    """A byte-level BPE token that is part of a UTF-8 character ('€' is three bytes) decodes
    alone to U+FFFD: every such token was labelled '�', 'Ç€' gave five identical labels. Their
    labels show the bytes that are not UTF-8 (\\xc3); whole characters are as before."""
    pytest.importorskip("matplotlib")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    tok = BPETokenizer.train("ab ab", 258)          # no merge reaches the bytes of Ç or €
    prompt = "Ç€ a"
    assert [tok.token_bytes(i) for i in tok.encode(prompt)] == [
        bytes([b]) for b in prompt.encode()]
    assert _drawn_token_labels(monkeypatch, tmp_path, tok, prompt) == [
        "\\xc3", "\\x87", "\\xe2", "\\x82", "\\xac", "␣", "a"]


@pytest.mark.parametrize("T", [12, 40, 128])
def test_attention_labels_of_a_long_prompt_do_not_overlap(tmp_path, monkeypatch, T):
    """A heatmap is at most 3.4 inches wide: a 128-token prompt labelled every token at about 2
    points apart, an unreadable strip of overlapping labels. The labels drawn never overlap;
    a long prompt labels every k-th token, each under its own token; a short one every token."""
    pytest.importorskip("matplotlib")
    from nanograd_llm import viz
    from nanograd_llm.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=60, block_size=128, n_layer=2, n_head=2, n_embd=8),
                seed=0)

    class Tok:
        def encode(self, text):
            return [ord(c) - 65 for c in text]

        def decode(self, ids):
            return chr(ids[0] + 65)
    prompt = "".join(chr(65 + i % 58) for i in range(T))
    figs = []
    real = viz._save
    monkeypatch.setattr(viz, "_save", lambda fig, out: (figs.append(fig), real(fig, out))[1])
    viz.plot_attention(model, Tok(), prompt, tmp_path / "a.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    for ticks, labels, lo, hi in ((ax.get_xticks(), ax.get_xticklabels(), "x0", "x1"),
                                  (ax.get_yticks(), ax.get_yticklabels(), "y0", "y1")):
        assert [t.get_text() for t in labels] == [prompt[int(i)] for i in ticks]
        boxes = sorted((getattr(b, lo), getattr(b, hi)) for b in
                       (t.get_window_extent(renderer) for t in labels))
        assert all(b[0] >= a[1] for a, b in zip(boxes, boxes[1:]))
    if T == 12:
        assert len(ax.get_xticks()) == T


@pytest.mark.parametrize("T", [3, 12])
def test_attention_picture_keeps_long_token_labels_inside(tmp_path, monkeypatch, T):
    """Labels of up to 6 characters (e.g. a BPE token '<|end…') must not be cut off."""
    pytest.importorskip("matplotlib")
    from nanograd_llm import viz
    model, _ = _tiny_model_and_vocab()

    class WideTok:                                  # every token shows as a 6-character label
        def encode(self, text):
            return list(range(1, len(text) + 1))

        def decode(self, ids):
            return "<|endoftext|>" if ids[0] % 2 else "şşşşşş"
    figs = []
    real = viz._save
    monkeypatch.setattr(viz, "_save", lambda fig, out: (figs.append(fig), real(fig, out))[1])
    viz.plot_attention(model, WideTok(), "x" * T, tmp_path / "a.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for ax in fig.axes[:-1]:                        # every heatmap (the last axes: colour bar)
        for lab in ax.get_xticklabels() + ax.get_yticklabels():
            b = lab.get_window_extent(renderer)
            assert b.x0 >= box.x0 - 0.5 and b.y0 >= box.y0 - 0.5, (lab.get_text(), b, box)


# -- the training commands the docs show, run one after another ------------------------------

def _shown_commands(text: str, start: str) -> list[list[str]]:
    """Every command of `text`'s lines that begins with `start` (also after `&&`), split as a
    shell would split it (a trailing `# comment` dropped)."""
    import shlex
    cmds = []
    for line in text.splitlines():
        for part in line.strip().split(" && "):
            if part.startswith(start):
                cmds.append(shlex.split(part, comments=True))
    return cmds


def _shown_config_file(text: str, name: str) -> str | None:
    """The contents of the config file `name` as `text` shows it: the first code block (a
    fenced one or an indented one) after the first line of prose that names `name` in
    backticks."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if f"`{name}`" not in line or line.startswith("    "):
            continue
        rest = lines[i + 1:]
        for j, l in enumerate(rest):
            if l.startswith("```"):
                body = []
                for l2 in rest[j + 1:]:
                    if l2.startswith("```"):
                        return "\n".join(body) + "\n"
                    body.append(l2)
                return None
            if l.startswith("    ") and l.strip():
                body = []
                for l2 in rest[j:]:
                    if not l2.startswith("    "):
                        break
                    body.append(l2[4:])
                return "\n".join(body) + "\n"
        return None
    return None


def _config_file_of(commands) -> str | None:
    """The FILE of the first `--config FILE` among the shown commands."""
    for argv in commands:
        if "--config" in argv[:-1] and not argv[argv.index("--config") + 1].startswith("["):
            return argv[argv.index("--config") + 1]
    return None


class _Started(RuntimeError):
    """Raised by the stand-in for train(): the command got as far as starting a run."""


def _assert_new_runs_in_their_own_folders(commands, run, where):
    """`run(argv)` must reach train(); every command that starts a new run (no --resume or
    --overwrite) must write to a folder no earlier one wrote to, so that a reader who types
    them in order is not refused with 'already holds a training run'."""
    seen = {}
    for argv in commands:
        started = run(argv)
        assert started, f"{where}: {' '.join(argv)!r} did not start a run"
        cfg, resume, overwrite = started[-1]
        if resume or overwrite:
            continue
        out = os.path.normpath(str(cfg.out_dir))
        assert out not in seen, (f"{where}: {' '.join(argv)!r} starts a new run in {out}, "
                                 f"which {' '.join(seen.get(out, []))!r} already filled")
        seen[out] = argv
    assert len(seen) >= 2, f"{where}: expected several training commands, found {commands}"


def test_train_char_gpt_usage_lines_can_be_run_one_after_another(monkeypatch):
    """examples/train_char_gpt.py's docstring shows four commands; typed in order, each starts
    its run (none is refused because an earlier one left a run in its folder)."""
    import importlib.util
    path = ROOT / "examples" / "train_char_gpt.py"
    spec = importlib.util.spec_from_file_location("example_train_char_gpt_usage", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    started = []

    def fake_train(cfg, resume=False, overwrite=False, **kw):
        started.append((cfg, resume, overwrite))
        raise _Started("started")
    monkeypatch.setattr(mod, "train", fake_train)

    def run(argv):
        assert argv[:2] == ["python", "examples/train_char_gpt.py"], argv
        n = len(started)
        mod.main(argv[2:])
        return started[n:]
    commands = _shown_commands(mod.__doc__, "python examples/train_char_gpt.py")
    _assert_new_runs_in_their_own_folders(commands, run, "examples/train_char_gpt.py")


def test_readme_tr_training_commands_can_be_run_one_after_another(tmp_path, monkeypatch):
    """README.tr.md's walkthrough: `nanograd-llm train`, the BPE run on seyfettin, then the
    settings section's runs (a preset with key=value words, a --config file the page shows);
    typed in order (with that file saved), none is refused because an earlier one filled its
    folder, and the page's config file is read as it is shown."""
    from nanograd_llm import cli
    from nanograd_llm import train as train_mod
    started = []

    def fake_train(cfg, resume=False, overwrite=False, **kw):
        started.append((cfg, resume, overwrite))
        raise _Started("started")
    monkeypatch.setattr(train_mod, "train", fake_train)

    def run(argv):
        n = len(started)
        cli.main(argv[1:])
        return started[n:]
    text = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    commands = _shown_commands(text, "nanograd-llm train")
    name = _config_file_of(commands)
    assert name, "README.tr.md shows no `nanograd-llm train --config FILE` command"
    shown = _shown_config_file(text, name)
    assert shown, f"README.tr.md: the {name} its command reads is not shown"
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(shown, encoding="utf-8")
    _assert_new_runs_in_their_own_folders(commands, run, "README.tr.md")
    from nanograd_llm.config import read_config_file
    settings = read_config_file(tmp_path / name)
    assert settings, f"README.tr.md: {name} sets nothing"
    cfg = next(c for c, _, _ in started if os.path.basename(c.out_dir) == Path(name).stem)
    assert all(getattr(cfg, k) == v for k, v in settings.items()), settings


def test_readme_training_commands_can_be_run_one_after_another(tmp_path, monkeypatch):
    """README.md's training commands, typed in order after the quick start (with the page's
    my.toml saved): `train --config my.toml ...` wrote to out/default like the quick start's
    `nanograd-llm train`, so it was refused; and the Training section repeated the quick
    start's `pip install -e . && nanograd-llm train`, which a reader following the page typed
    again and was refused (out/default already held the quick start's run)."""
    from nanograd_llm import cli
    from nanograd_llm import train as train_mod
    started = []

    def fake_train(cfg, resume=False, overwrite=False, **kw):
        started.append((cfg, resume, overwrite))
        raise _Started("started")
    monkeypatch.setattr(train_mod, "train", fake_train)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    name = _config_file_of(_shown_commands(text, "nanograd-llm train")) or "my.toml"
    toml = _shown_config_file(text, name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(toml or "dropout = 0.1\n", encoding="utf-8")

    def run(argv):
        n = len(started)
        cli.main(argv[1:])
        return started[n:]
    commands = []
    for argv in _shown_commands(text, "nanograd-llm train"):
        if not any(w.startswith("[") for w in argv):                            # no synopsis
            commands.append(argv)
    _assert_new_runs_in_their_own_folders(commands, run, "README.md")
    assert toml, f"README.md: the example {name} its command reads is gone"


def test_readme_python_example_predicts_the_next_token():
    """README.md's first Python example runs as shown, its targets are the inputs shifted by
    one (it passed targets=idx: each position "predicted" its own token, and the loss at
    initialisation, 3.17, came out below ln 65, teaching the wrong task), and the figures in
    its comments are what it gives."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "GPTConfig(" in b)
    ns = {}
    exec(compile(block, "README.md", "exec"), ns)
    model, logits, loss = ns["model"], ns["logits"], float(ns["loss"])
    V = model.config.vocab_size
    assert abs(loss - np.log(V)) < 0.1, f"loss at initialisation {loss:.4f}, ln V {np.log(V):.4f}"
    shape = re.search(r"logits (\(\d+, \d+, \d+\))", block)
    assert shape and shape.group(1) == str(tuple(logits.shape))
    shown = re.search(r"loss ≈ (\d\.\d\d)", block)
    assert shown and float(shown.group(1)) == round(loss, 2), (shown, loss)
    assert f"ln {V} ≈ {np.log(V):.2f}" in " ".join(text.split())
    assert set(ns["grads"]) == set(model.params)


def test_readme_names_the_file_formats_save_checkpoint_writes(tmp_path):
    """README.md said `save_checkpoint`'s files are "safetensors and JSON"; it writes the
    weights and AdamW moments as NumPy .npz archives (read with allow_pickle=False) and the
    rest as JSON (safetensors is the GPT-2 folder's format, `save_hf`)."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.checkpoint import save_checkpoint
    from nanograd_llm.optim import AdamW
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text("abc")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=4, n_layer=1, n_head=1,
                          n_embd=4), seed=0)
    save_checkpoint(tmp_path, model, AdamW(model), tok, 0)
    suffixes = {p.suffix for p in tmp_path.iterdir() if p.is_file()}
    assert suffixes == {".npz", ".json"}, suffixes
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    said = text[text.index("to save one, use `save_checkpoint`"):][:200]
    assert "safetensors" not in said and "`.npz`" in said and "JSON" in said, said


def test_readme_says_when_the_loss_curve_is_drawn_and_what_metrics_rows_hold(tmp_path,
                                                                             monkeypatch):
    """README.md said that at every evaluation a row is appended to metrics.jsonl "and
    OUT/loss.png is redrawn": the trainer draws it once, when the run ends (a reader watching
    loss.png during a long run saw it stay as it was). The row's fields are listed, elapsed_s
    with what it counts."""
    from _train_helpers import tiny_config

    from nanograd_llm import train as train_mod
    drawn = []
    monkeypatch.setattr(train_mod, "plot_losses", lambda m, p: drawn.append(p) or False)
    result = train_mod.train(tiny_config(tmp_path, max_iters=8, eval_interval=2), quiet=True)
    rows = [json.loads(l) for l in
            (Path(result["out_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and len(drawn) == 1
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    logs = text[text.index("**Logs.**"):text.index("**Evaluation.**")]
    assert f"`{', '.join(rows[0])}`" in logs, logs
    assert "is redrawn" not in logs and "When the run ends" in logs and "`elapsed_s` the" in logs


def test_readme_tr_python_example_runs_and_the_model_api_is_explained():
    """README.tr.md never showed the model from Python (README.md's first example: a forward
    pass with targets, the loss near ln 65, backward's gradients), nor said how params and
    grads are views into one buffer, how to change a config or copy a model, or how the
    checks are made (the gradcheck formula and exit status, the PyTorch tolerances, the fake
    GPU). Its example runs as shown, and its figures are what the code gives."""
    import math
    text = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    m = re.search(r"^## Python'dan kullanmak\n\n((?:    .*\n|\n)+)", text, re.M)
    assert m, "README.tr.md has no Python example of the model"
    ns = {}
    exec(compile("\n".join(l[4:] for l in m.group(1).splitlines()), "README.tr.md", "exec"), ns)
    assert ns["logits"].shape == (12, 64, 65) and set(ns["grads"]) == set(ns["model"].params)
    flat = " ".join(text.split())
    assert f"(burada {float(ns['loss']):.2f}".replace(".", ",") in flat
    assert f"`ln 65 ≈ {math.log(65):.2f}`".replace(".", ",") in flat
    for name in ("`dataclasses.replace(model.config, n_head=8)`", "`model.grad_flat`",
                 "`TypeError`", "`copy.deepcopy(model)`", "`save_checkpoint`",
                 "`max|analitik − sayısal| / max(max|analitik|, max|sayısal|)`",
                 "`tests/test_device_branches.py`", "`.ci/run`",
                 "`train.html#kaldigi-yerden-devam-resume`", "freeCodeCamp"):
        assert name in flat, name


def _readme_python_blocks(name: str) -> list[str]:
    """The Python examples of a README: README.md's ```python blocks, README.tr.md's indented
    blocks that import nanograd_llm."""
    text = (ROOT / name).read_text(encoding="utf-8")
    if name == "README.md":
        return re.findall(r"```python\n(.*?)```", text, re.S)
    blocks = ("\n".join(l[4:] for l in m.group(1).splitlines())
              for m in re.finditer(r"((?:^    .*\n|^\n)+)", text, re.M))
    return [b.strip("\n") + "\n" for b in blocks if "from nanograd_llm" in b]


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_every_python_example_of_a_readme_runs_as_shown(readme, tmp_path, monkeypatch):
    """Only the first Python example of each README (a forward pass) was run by a test; the
    others (open a run with GPT.load and load_run_tokenizer, GPT.from_hf / init_from_hf and
    sampling, save_hf of a char-level run) were checked as text only. Each runs here as shown,
    in a folder holding a tiny `out/default` run and a tiny GPT-2 folder `gpt2` (a model and a
    byte-level BPE saved by this package), and the files its comments name are what it
    writes."""
    pytest.importorskip("safetensors")
    pytest.importorskip("regex")
    from _train_helpers import tiny_config

    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import init_from_hf
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    from nanograd_llm.train import train
    monkeypatch.chdir(tmp_path)
    train(tiny_config(tmp_path, name="out/default", max_iters=2, eval_interval=2), quiet=True)
    tok = BPETokenizer.train("Hello, I'm a language model, hello world. " * 8, 270)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=48, n_layer=1, n_head=2, n_embd=8),
        seed=0).save_hf("gpt2")
    tok.save("gpt2")
    blocks = _readme_python_blocks(readme)
    assert len(blocks) == 4, f"{readme}: {len(blocks)} Python examples, this test knows 4"
    checked = {"files": 0, "sampled": 0, "sample --hf": 0}
    for block in blocks:
        ns = {}
        exec(compile(block, readme, "exec"), ns)
        for folder, files in re.findall(r'\.save(?:_hf)?\("(\w+)"\)\s*#\s*([\w.]+ \+ [\w.]+)',
                                        block):
            assert set(files.split(" + ")) <= {p.name for p in Path(folder).iterdir()}, block
            checked["files"] += 1
        if "init_from_hf(" in block:
            prompt = re.search(r'tok\.encode\("([^"]*)"\)', block).group(1)
            n = int(re.search(r"\), (\d+), top_k", block).group(1))
            assert ns["out"].shape == (1, len(ns["tok"].encode(prompt)) + n), block
            checked["sampled"] += 1
        # The folder the comment's `nanograd-llm sample --hf` command opens is read from the
        # block (not named here): a block that saves the model and its tokenizer into two
        # different folders, or names a third one in the command, fails
        for folder in re.findall(r"sample --hf (\w+)", block):
            model, loaded = init_from_hf(folder)          # what `sample --hf FOLDER` opens
            assert type(loaded).__name__ == "CharTokenizer", block
            assert np.array_equal(model.flat, ns["model"].flat), block
            checked["sample --hf"] += 1
    # A check whose pattern no block matches any more would pass silently
    assert checked == {"files": 2, "sampled": 1, "sample --hf": 1}, checked


def test_help_of_the_config_classes_explains_every_field():
    """help(GPTConfig) and help(TrainConfig) showed only the dataclass's generated signature
    (no summary, no word on what a field does); GPTConfig's docstring now says what each of
    its fields is, TrainConfig's what it is, how its defaults relate to the command line and
    where the fields are explained."""
    from dataclasses import fields

    from nanograd_llm import GPTConfig
    from nanograd_llm.config import TrainConfig
    for cls in (GPTConfig, TrainConfig):
        first = inspect.getdoc(cls).splitlines()[0]
        assert not first.startswith(cls.__name__ + "("), first
    doc = " ".join(inspect.getdoc(GPTConfig).split())
    missing = [f.name for f in fields(GPTConfig) if f"{f.name}:" not in doc
               and not re.search(rf"\b{f.name}\b", doc)]
    assert not missing, f"GPTConfig's docstring does not explain {missing}"
    doc = " ".join(inspect.getdoc(TrainConfig).split())
    assert "`default` preset" in doc and 'out_dir: "out"' in doc
    assert TrainConfig().out_dir == "out"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"\*([^*]+)\* section", doc).group(1)
    assert f"\n## {section}\n" in readme, section


def test_train_docstring_names_every_key_it_returns(tmp_path):
    """train()'s docstring said only "a summary dict (final losses, paths, timings)": a caller
    had to print one to learn its keys (interrupted and signal, which README.md points to,
    the best_* keys, the model and tokenizer), nor did it say what quiet and progress do."""
    from _train_helpers import tiny_config

    from nanograd_llm.train import train
    result = train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    doc = " ".join(inspect.getdoc(train).split())
    keys = doc[doc.index("The dict's keys:"):]
    missing = [k for k in result if not re.search(rf"\b{k}\b", keys)]
    assert not missing, f"train() returns {missing}, which its docstring does not name"
    for param in inspect.signature(train).parameters:
        assert re.search(rf"\b{param}\b", doc), param
    # "step (the last step run)" read as a 0-based step index, as get_lr counts, is one short:
    # it is the number of steps done, the checkpoint's step
    from nanograd_llm.checkpoint import read_manifest
    assert result["step"] == 2 == read_manifest(result["out_dir"])["step"]
    assert "step (the number of steps done, the checkpoint's step" in doc


_PYTHON_API = ["nanograd_llm", "nanograd_llm.models.gpt", "nanograd_llm.models.bigram",
               "nanograd_llm.models.base", "nanograd_llm.optim", "nanograd_llm.checkpoint",
               "nanograd_llm.generate", "nanograd_llm.evaluate", "nanograd_llm.data",
               "nanograd_llm.tokenizers", "nanograd_llm.tokenizers.char",
               "nanograd_llm.tokenizers.bpe", "nanograd_llm.hf", "nanograd_llm.gradcheck",
               "nanograd_llm.train", "nanograd_llm.config",
               *(f"nanograd_llm.layers.{name}" for name in LAYER_CHAPTERS)]


def _help_summary_faults(obj, name: str) -> str | None:
    doc = inspect.getdoc(obj)
    if not doc:
        return "no docstring"
    first = doc.splitlines()[0]
    if first.startswith((name + "(", "Initialize self", "Unspecified")):
        return f"only Python's generated text: {first[:60]!r}"
    return None


def test_help_of_every_public_function_class_and_method_starts_with_a_summary():
    """help() on many public names of the modules README.md points Python users to showed
    nothing useful: GPTConfig and TrainConfig their generated signature, AdamW.step,
    model.train/eval/num_params/zero_grad, EvalResult.loss, the layers' cache tuples and more
    no docstring at all. Every public function, class and method (properties included)
    defined there has a docstring whose first line is its own summary."""
    faults = []
    for module_name in _PYTHON_API:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)) \
                    or obj.__module__ != module_name:
                continue
            fault = _help_summary_faults(obj, name)
            if fault:
                faults.append(f"{module_name}.{name}: {fault}")
            for attr, member in (vars(obj).items() if inspect.isclass(obj) else ()):
                f = member.fget if isinstance(member, property) else \
                    getattr(member, "__func__", member)
                if attr.startswith("_") or not inspect.isfunction(f):
                    continue
                fault = _help_summary_faults(f, attr)
                if fault:
                    faults.append(f"{module_name}.{name}.{attr}: {fault}")
    assert not faults, "\n".join(faults)


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_the_signatures_a_readme_shows_are_the_real_ones(readme):
    """Both READMEs write out `GPT(config, seed=0, dtype="float32", device="cpu")` and
    `GPT.generate(idx, max_new_tokens, temperature=1.0, …)` with their defaults, and say that
    nanograd_llm.generate.generate(model, idx, ...) is the same; nothing compared them with
    the code, so a renamed parameter or a changed default would have left them wrong."""
    import ast

    from nanograd_llm import GPT
    from nanograd_llm import generate as gen
    text = " ".join((ROOT / readme).read_text(encoding="utf-8").split())

    def shown(call):
        m = re.search(rf"`{re.escape(call)}\(([^`]*)\)`", text)
        assert m, f"{readme} no longer shows {call}(...)"
        node = ast.parse(f"f({m.group(1)})", mode="eval").body
        return ([a.id for a in node.args],
                {k.arg: ast.literal_eval(k.value) for k in node.keywords})

    def real(fn, skip):
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind is p.POSITIONAL_OR_KEYWORD][skip:]
        return ([p.name for p in params if p.default is p.empty],
                {p.name: p.default for p in params if p.default is not p.empty})

    assert shown("GPT") == real(GPT.__init__, 1)
    assert shown("GPT.generate") == real(GPT.generate, 1) == real(gen.generate, 1)


def test_both_readmes_explain_the_best_folder_where_training_is_described():
    """Every run with evaluations leaves OUT/best; README.md explained it only in its GPU
    section and README.tr.md not at all, so a CPU user met an unexplained folder."""
    en = (ROOT / "README.md").read_text(encoding="utf-8")
    training = " ".join(en[en.index("## Training"):en.index("## GPT-2 checkpoints")].split())
    for phrase in ("`OUT/best`", "`--ckpt OUT/best`", "`keep_best", "cannot be resumed"):
        assert phrase in training, phrase
    tr = " ".join((ROOT / "README.tr.md").read_text(encoding="utf-8").split())
    for phrase in ("`best` alt klasörü", "`--ckpt out/default/best`", "`keep_best=false`",
                   "devam edilemez"):
        assert phrase in tr, phrase


def test_readme_tr_says_what_a_run_folder_holds_and_how_a_run_stops():
    """README.tr.md never gave the exit status of a Ctrl-C (130; README.md does), nor the
    fields of metrics.jsonl, the files of a checkpoint, what --resume may change, the folder's
    lock, the NaN stop's exit status or how to load a run from Python: a Turkish-only reader
    learnt them from README.md or the code."""
    en = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    tr = " ".join((ROOT / "README.tr.md").read_text(encoding="utf-8").split())
    fields = re.search(r"`OUT/metrics.jsonl` \(`([a-z_, ]+)`", en).group(1).split(", ")
    logs = tr[tr.index("**Günlük.**"):tr.index("**Denetim noktaları.**")]
    missing = [f for f in fields if f"`{f}`" not in logs]
    assert len(fields) == 6 and not missing, missing
    for status, cause in ((130, "SIGINT"), (143, "SIGTERM"), (141, "SIGPIPE")):
        assert f"{status} ile çıkar (128 + {cause}" in tr, status
        assert str(status) in en
    for name in ("`config.json`", "`model-<adım>-<etiket>.npz`", "`optim-<adım>-<etiket>.npz`",
                 "`checkpoint.json`", "`OUT/.lock`", "`--data YENİ_YOL`", "`grad_clip=0`",
                 "`interrupted=True`", "`python -m nanograd_llm ...`", "`--quiet`",
                 'GPT.load("out/default")', 'load_run_tokenizer("out/default")',
                 "`nanograd_llm/corpus/turkce_aciklamalar.txt`"):
        assert name in tr, name
    assert "komut 1 ile çıkar" in tr


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_readmes_name_the_bpe_extra_where_they_show_tokenizer_bpe(readme):
    """`tokenizer=bpe` needs the `bpe` extra (regex); README.tr.md said so beside its command,
    README.md's Data paragraph did not."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    paragraphs = re.split(r"\n\s*\n", text)
    for i, par in enumerate(paragraphs):
        if "tokenizer=bpe" in par:
            near = " ".join(paragraphs[max(0, i - 1):i + 1])
            assert 'pip install -e ".[bpe]"' in near, f"{readme}: {par[:80]!r}"


def test_readme_command_table_matches_the_cli():
    """Each row of README.md's command table names only real options of its command, and the
    small commands' rows name all of theirs (the docs row left out --run and --no-images,
    which README.tr.md's reader learns); README.tr.md names both docs options too."""
    from nanograd_llm.cli import build_parser
    commands = build_parser().commands
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `nanograd-llm (\w+)([^`]*)`(?: / `([^`]*)`)? \|", text, re.M)
    assert {r[0] for r in rows} == set(commands)
    for name, rest, alt in rows:
        shown = set(re.findall(r"--[\w-]+", rest + " " + alt))
        real = {s for a in commands[name]._actions for s in a.option_strings} - {"-h", "--help"}
        assert shown <= real, f"{name}: {sorted(shown - real)} are not options"
        if name in ("docs", "attention", "gradcheck"):
            assert shown == real, f"{name}: the row leaves out {sorted(real - shown)}"
    tr = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    assert "`--run KLASÖR`" in tr and "`--no-images`" in tr


_SETTINGS_WORDS = {
    "README.md": ("Fields:", ("`--config`", "TOML", "JSON", "`key=value`", "`--preset`")),
    "README.tr.md": ("Alanlar:",
                     ("`--config`", "TOML", "JSON", "`anahtar=değer`", "`--preset`")),
}


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_readmes_explain_the_settings_and_list_every_field(readme):
    """Both READMEs say how settings are given (preset, --config file, key=value) and list every
    TrainConfig field; README.tr.md said nothing of --config files or key=value settings, so a
    Turkish-only reader never learnt them."""
    from dataclasses import fields

    from nanograd_llm.config import TrainConfig
    text = " ".join((ROOT / readme).read_text(encoding="utf-8").split())
    label, words = _SETTINGS_WORDS[readme]
    assert label in text, f"{readme}: no list of the settings ({label!r})"
    listed = text[text.index(label):]
    listed = listed[:listed.index(".", listed.index("mmap_threshold"))]
    named = set(re.findall(r"[a-z_][a-z0-9_]*", listed))
    missing = {f.name for f in fields(TrainConfig)} - named
    assert not missing, f"{readme}: the settings list leaves out {sorted(missing)}"
    for word in words:
        assert word in text, (readme, word)


_EN_NUM, _TR_NUM = r"(\d+(?:\.\d+)?)", r"(\d+(?:,\d+)?)"   # 0.99 ; 0,99
_PRESET_WORDS = {   # README: (pattern, field, value or None for the matched number)
    "README.md": [
        (r"(\d+) layers", "n_layer", None), (r"(\d+) heads", "n_head", None),
        (r"n_embd (\d+)", "n_embd", None), (r"block (\d+)", "block_size", None),
        (r"batch (\d+)", "batch_size", None), (r"(?<!no )dropout " + _EN_NUM, "dropout", None),
        (r"no dropout", "dropout", 0.0), (r"no biases", "bias", False),
        (r"(?<!no )biases", "bias", True), (r"(\d+) iters", "max_iters", None),
        (r"warmup (\d+)", "warmup_iters", None), (r"no warmup", "warmup_iters", 0),
        (r"beta2 " + _EN_NUM, "beta2", None),
        (r"(?<!no )weight decay " + _EN_NUM, "weight_decay", None),
        (r"no weight decay", "weight_decay", 0.0), (r"clip " + _EN_NUM, "grad_clip", None),
        (r"no clipping", "grad_clip", 0.0)],
    "README.tr.md": [
        (r"(\d+) katman", "n_layer", None), (r"(\d+) kafa", "n_head", None),
        (r"n_embd (\d+)", "n_embd", None), (r"blok (\d+)", "block_size", None),
        (r"toplu iş (\d+)", "batch_size", None), (r"dropout " + _TR_NUM, "dropout", None),
        (r"dropout yok", "dropout", 0.0), (r"sapmasız", "bias", False),
        (r"sapmalı", "bias", True), (r"(\d+) adım", "max_iters", None),
        (r"ısınma (\d+)", "warmup_iters", None), (r"ısınma yok", "warmup_iters", 0),
        (r"beta2 " + _TR_NUM, "beta2", None),
        (r"ağırlık azaltma " + _TR_NUM, "weight_decay", None),
        (r"ağırlık azaltma yok", "weight_decay", 0.0),
        (r"kırpma " + _TR_NUM, "grad_clip", None), (r"kırpma yok", "grad_clip", 0.0)],
}


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_readme_preset_tables_are_the_presets(readme):
    """Every figure of a README's preset table is the preset's setting (config.PRESETS over
    TrainConfig's defaults), and each row states the whole schedule and, for a GPT, the model."""
    from nanograd_llm.config import PRESETS, make_config
    text = (ROOT / readme).read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*)$", text, re.M))
    assert set(PRESETS) <= set(rows), f"{readme}: no row for {set(PRESETS) - set(rows)}"
    for name in PRESETS:
        cfg, row = make_config(name), rows[name]
        stated = {}
        for pattern, field, value in _PRESET_WORDS[readme]:
            for m in re.finditer(pattern, row):
                got = value if value is not None else float(m.group(1).replace(",", "."))
                assert got == getattr(cfg, field), (readme, name, m.group(0),
                                                    getattr(cfg, field))
                stated[field] = got
        lr = re.search(r"lr ([\d.e-]+) → ([\d.e-]+)", row)
        assert lr and (float(lr.group(1)), float(lr.group(2))) == (cfg.lr, cfg.min_lr), \
            (readme, name)
        need = {"max_iters", "warmup_iters", "beta2", "weight_decay", "grad_clip"}
        if cfg.model == "gpt":
            need |= {"n_layer", "n_head", "n_embd", "block_size", "batch_size", "dropout", "bias"}
        assert need <= set(stated), f"{readme}: the {name} row does not state {need - set(stated)}"


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_readmes_name_every_example(readme):
    """README.md lists the four scripts of examples/; README.tr.md named only the primer's, so
    a Turkish-only reader never learnt of the hand-written bigram loop, the trainer called from
    Python or the sampling script, each explained in Turkish at its top."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    missing = [p.name for p in sorted((ROOT / "examples").glob("*.py"))
               if f"`{p.name}`" not in text and f"examples/{p.name}" not in text]
    assert not missing, f"{readme} never names {missing}"


def test_readme_tr_rules_name_every_package_always_installed():
    """README.tr.md's Kurallar said the package always brings "only tqdm and threadpoolctl"
    beside NumPy, where setup.cfg installs tomli too on Python 3.10 (the page's own
    requirements line says so)."""
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    required = [re.match(r"[A-Za-z0-9_.-]+", line.strip()).group()
                for line in cfg["options"]["install_requires"].splitlines() if line.strip()]
    text = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    rules = text[text.index("## Kurallar"):]
    rules = rules[:rules.index("Diğer kütüphaneler")]
    missing = [name for name in required if name != "numpy" and f"`{name}`" not in rules]
    assert not missing, f"README.tr.md's Kurallar leaves out {missing}"


def test_data_chapter_says_how_seyfettin_is_cleaned(tmp_path, monkeypatch):
    """`--data seyfettin` maps the wiki export's HTML entities and drops the wiki-indent ':'
    at line starts (clean_seyfettin); the same file given as a path is read as it is. The
    data chapter said only that a BOM is stripped and CRLF becomes LF, so a reader who found
    `&mdash;` in a run's vocabulary (or not) had no word of why."""
    from nanograd_llm import data
    doc = sections(data.__doc__)["Adlandırılmış derlemler"]
    flat = " ".join(doc.split())
    assert "`clean_seyfettin`" in flat and "`&mdash;`" in flat and "`:`" in flat, flat
    assert "--data YOL" in flat
    raw = ":&mdash; Evet &acirc;lem\nbir : iki\n"
    assert data.clean_seyfettin(raw) == "— Evet âlem\nbir : iki\n"
    path = tmp_path / "hikaye.txt"
    path.write_text(raw, encoding="utf-8")
    assert data.load_text(str(path))[0] == raw


def test_readme_says_the_placed_seyfettin_copy_is_the_joined_file():
    """README.md said a copy placed by hand offline has "`seyfettin`'s stories joined and
    cleaned as usual", as if the 28 stories could be placed and joined on reading; the cache
    holds one file, the parts joined with a newline between them (download_corpus), and only
    the cleaning happens on reading, for the named corpus alone."""
    from nanograd_llm.data import CORPORA
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "stories are joined and cleaned as usual" not in text
    n = len(CORPORA["seyfettin"].parts)
    assert f"one file, the {n} stories joined in order with a newline between them" in text
    assert "for the named corpus only" in text


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_readmes_name_every_option_that_overrides_the_settings_last(readme, tmp_path):
    """`train`'s --data, --out, --device and --init-from are applied after the preset, the
    --config file and the key=value words (a config file's init_from gives way to
    --init-from); README.md's order named only --data/--out/--device."""
    from nanograd_llm.config import make_config
    conf = tmp_path / "c.toml"
    conf.write_text('init_from = "a"\ndata = "x.txt"\nout_dir = "o"\n', encoding="utf-8")
    cfg = make_config("default", config_file=conf, overrides={"init_from": "b"},
                      data="y.txt", out_dir="p", device="cpu", init_from="c")
    assert (cfg.init_from, cfg.data, cfg.out_dir) == ("c", "y.txt", "p")
    text = " ".join((ROOT / readme).read_text(encoding="utf-8").split())
    if readme == "README.md":
        assert "then `--data/--out/--device/--init-from`" in text
    else:
        assert "en son da `--data`, `--out`, `--device` ve `--init-from`" in text


def test_readme_tr_gives_the_data_details_readme_gives():
    """README.tr.md's data paragraph left out what README.md says of a corpus: the name
    `embedded`, that a copy of seyfettin placed by hand is one joined file and that its cleaning
    is for the named corpus only, the BOM and CRLF, the 90/10 contiguous split, uint16 ids and
    the memory-mapped tokens.npy, and of the Turkish BPE pattern the keycap emoji, the earlier
    pattern kept by a saved tokenizer and how to normalise a prompt."""
    from nanograd_llm.data import CORPORA, split_point
    assert split_point(100, 0.1) == 90
    tr = " ".join((ROOT / "README.tr.md").read_text(encoding="utf-8").split())
    n = len(CORPORA["seyfettin"].parts)
    for phrase in ("`embedded`", f"{n} öykü sırayla, aralarında birer satır sonuyla",
                   "yalnızca adlı derleme uygulanır", "BOM", "CRLF", "ilk %90'ı eğitim",
                   "`uint16`", "`mmap_threshold`", "`OUT/tokens.npy`", "`2️⃣x`",
                   "`tokenizer_meta.json`'da saklanır", 'unicodedata.normalize("NFC", text)',
                   "Karakter belirteçleyici ise NFC"):
        assert phrase in tr, phrase


def test_readme_tr_names_every_option_readme_names():
    """Both READMEs name the same options of the nanograd-llm commands (in a command or in
    prose), every one but --help: README.tr.md never named eval's --split, --max-tokens and
    --json nor train's --quiet, so a Turkish-only reader did not learn that they exist, and
    README.md never named sample's --no-stream, --no-cache, --unknown, --dtype nor eval's
    --context and --batch-size. Options of other programs (hf download's --local-dir, the
    benchmarks') are not the CLI's and are left out by the parser's list."""
    from nanograd_llm.cli import build_parser
    real = {s for sub in build_parser().commands.values() for a in sub._actions
            for s in a.option_strings}
    option = re.compile(r"(?<![\w-])--[a-z][\w-]*")
    en = set(option.findall((ROOT / "README.md").read_text(encoding="utf-8"))) & real
    tr = set(option.findall((ROOT / "README.tr.md").read_text(encoding="utf-8"))) & real
    assert len(en) >= 20
    assert not en - tr, f"README.tr.md never names {sorted(en - tr)}"
    assert not tr - en, f"README.md never names {sorted(tr - en)}"
    assert real - en == {"-h", "--help"}, f"neither README names {sorted(real - en)}"



def test_readmes_give_evals_window_defaults_as_the_code_has_them(tmp_path):
    """Both READMEs gave `eval --context`'s default as "the model's block_size" only, but a
    bigram has none: its windows are evaluate.DEFAULT_CONTEXT (256) tokens long, not the
    block_size of its run's config; the val part of `eval --ckpt --data TEXT --split val` is
    cut at the run's own val_fraction (resolve_eval_data), not always at 10%; and with
    `--context N` a position sees at least N − S + 1 tokens, not block_size − S + 1, for about
    N / S times the work, not block_size / S."""
    from nanograd_llm.evaluate import DEFAULT_CONTEXT, evaluate_text
    from nanograd_llm.models.bigram import BigramLM
    from nanograd_llm.tokenizers import CharTokenizer
    text = "abcab" * 120
    tok = CharTokenizer.from_text(text)
    assert evaluate_text(BigramLM(tok.vocab_size), tok, text)[0].context == DEFAULT_CONTEXT
    en = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    tr = " ".join((ROOT / "README.tr.md").read_text(encoding="utf-8").split())
    assert f"`block_size`; {DEFAULT_CONTEXT} for a bigram" in en
    assert f"bigram modelinde {DEFAULT_CONTEXT})" in tr
    assert "the run's own `val_fraction` with `--ckpt`" in en
    assert "`--ckpt` ile eğitimin kendi `val_fraction`'ıdır" in tr
    # --stride S with --context N: a window of N tokens every S positions; after the first
    # window each counted position sees at least N − S + 1 tokens, and the windows hold about
    # N / S times the text's tokens (the work), whatever the model's block_size
    from nanograd_llm.evaluate import sliding_windows
    n, N, S = 4001, 40, 8
    windows = sliding_windows(n, N, S)
    assert min(first for _, first in windows[1:]) + 1 >= N - S + 1
    assert abs(len(windows) * N / (n - 1) - N / S) < 0.1
    for name, text_ in (("README.md", en), ("README.tr.md", tr)):
        i = text_.index("`--stride S`")
        stride = text_[i:text_.index("`--batch-size B`", i)]
        for form in ("`N − S + 1`", "`N / S`"):
            assert form in stride, f"{name} does not give --stride's {form} with --context N"


def _github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped (letters,
    digits, `_` and `-` stay), each space a `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(text: str) -> list[tuple[int, str]]:
    """(offset, text) of each `#`… heading outside fenced code, backticks dropped."""
    out, fenced, pos = [], False, 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            out.append((pos, line.lstrip("#").strip().replace("`", "")))
        pos += len(line)
    return out


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_readme_links_and_section_references_resolve(readme):
    """Every link of a README ([text](target)) leads somewhere: a relative file that exists, an
    anchor that is a heading of the page it names (GitHub's slug: README.md links to
    #cpu-threads four times), and each "aşağıdaki/yukarıdaki X bölümü(nde)", "bkz. X bölümü",
    "kursun X bölümü" or "açıklaması X bölümünde" of README.tr.md names a heading of the page in
    that direction, or a chapter of its Bölümler list (the course, listed below everything it is
    named from), by whole words. A renamed heading or chapter used to leave these references
    pointing at nothing."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", lambda m: " " * len(m.group()), text, flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", prose)
    assert links, readme
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue                                    # https:, mailto: …
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / readme
        assert target.exists(), f"{readme}: the link {link} leads to no file"
        if anchor:
            assert target.suffix == ".md", link
            slugs = {_github_slug(h) for _, h in _headings(target.read_text(encoding="utf-8"))}
            assert anchor in slugs, f"{readme}: #{anchor} is no heading of {target.name}"
    if readme != "README.tr.md":
        return

    def lower(s):
        return s.replace("I", "ı").replace("İ", "i").lower()
    headings = [(pos, lower(h)) for pos, h in _headings(text)]
    chapters = [(m.start(), lower(m.group(1))) for m in
                re.finditer(r"^\d+\. \[([^\]]+)\]\(nanograd_llm/", text, re.M)]
    assert len(chapters) >= 30
    refs = list(re.finditer(r"(aşağıdaki|yukarıdaki|kursun|bkz\.|açıklaması(?! (?:aşağıdaki|"
                            r"yukarıdaki|kursun|bkz\.) )) ([^.;:!?]{1,80}?) bölüm",
                            text.replace("\n", " ")))
    assert len(refs) >= 10
    bad = []
    for ref in refs:
        where, name = ref.group(1), lower(ref.group(2))
        names = [name] if any(name in h for _, h in headings + chapters) else \
            re.split(r", | ve ", name)
        for n in names:
            # The name begins the heading, or (a long name) stands in it as whole words:
            # "metin üretimi" is not the chapter "GPT: belirteçlerden metin üretimine"
            whole = re.compile(r"(?<!\w)" + re.escape(n) + r"(?!\w)")
            found = [pos for pos, h in (chapters if where == "kursun" else headings + chapters)
                     if whole.match(h) or (len(n) > 12 and whole.search(h))]
            if where == "aşağıdaki":
                found = [pos for pos in found if pos > ref.start()]
            elif where == "yukarıdaki":
                found = [pos for pos in found if pos < ref.start()]
            if not found:
                bad.append(f"{where} {n!r}")
    assert not bad, f"README.tr.md names sections it does not have: {bad}"


def test_readme_tr_does_not_give_chats_ctrl_c_the_status_of_the_other_commands():
    """README.tr.md said every command but train writes `interrupted` and exits with 130 on a
    Ctrl-C; `chat` takes Ctrl-C as its ordinary way out (chat_loop returns 0, nothing on
    stderr), as both READMEs say beside its command ("Ctrl-C ile çıkılır")."""
    import io

    from nanograd_llm.chat import chat_loop
    from nanograd_llm.models.bigram import BigramLM
    from nanograd_llm.tokenizers import CharTokenizer

    class CtrlC(io.StringIO):
        def readline(self, *a):
            raise KeyboardInterrupt
    tok = CharTokenizer.from_text("ab\n")
    assert chat_loop(BigramLM(tok.vocab_size), tok, CtrlC(), io.StringIO()) == 0
    tr = " ".join((ROOT / "README.tr.md").read_text(encoding="utf-8").split())
    m = re.search(r"[^.]*Ctrl-C ile `interrupted` yazıp 130 ile çıkar[^;]*", tr)
    assert m, "README.tr.md no longer says what a Ctrl-C does to the other commands"
    assert "`chat` dışında" in m.group() and "0 ile çıkar" in m.group(), m.group()

# A figure of README.md: a decimal, an exponent or a range (1.9811, 2.5e-6, 25–60, 0.62–0.83)
_FIGURE = re.compile(r"(?<![\w.,/-])\d+(?:\.\d+)?(?:e-?\d+)?(?:–\d+(?:\.\d+)?)?(?![\w.]?\d|\w)")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _turkish_forms(figure: str) -> set[str]:
    """How README.tr.md may write a figure: as README.md does (in code), with a decimal comma
    (1,9811), and an exponent also as a power of ten (1,8·10¹⁹)."""
    comma = figure.replace(".", ",")
    forms = {figure, comma}
    m = re.fullmatch(r"([\d,]+)e(-?\d+)", comma)
    if m:
        forms.add(f"{m.group(1)}·10{m.group(2).translate(_SUPERSCRIPT)}")
    return forms


def _readme_paragraph(text: str, start: str) -> str:
    """README.md's text from `start` to the next bold paragraph head or section, code blocks
    left out."""
    rest = text[text.index(start):]
    end = re.search(r"\n(?=## |\*\*[A-Z])", rest[len(start):])
    rest = rest[:len(start) + end.start()] if end else rest
    return re.sub(r"```.*?```", " ", rest, flags=re.S)


@pytest.mark.parametrize("start", ["**Evaluation.**", "**NaN and inf.**", "**Sampling.**",
                                   "**The real GPT-2.**", "**Fine-tuning GPT-2**",
                                   "**Speed on a shared CPU.**",
                                   "**Fused CPU kernels (optional).**", "## GPU",
                                   "Requirements: Python", "## What is inside", "## Correctness"])
def test_readme_tr_gives_the_figures_readme_gives(start):
    """Each measured figure of a README.md paragraph (a loss, a time, a ratio, a tolerance) is
    in README.tr.md, written the Turkish way (1,9811 for 1.9811). README.tr.md gave none of
    the evaluation's figures: a Turkish reader could not tell whether their `eval` result was
    what the project measured."""
    en = (ROOT / "README.md").read_text(encoding="utf-8")
    tr = " ".join((ROOT / "README.tr.md").read_text(encoding="utf-8").split())
    figures = [f for f in _FIGURE.findall(_readme_paragraph(en, start)) if re.search(r"[.e–]", f)]
    assert figures, start
    missing = [f for f in dict.fromkeys(figures)
               if not any(form in tr for form in _turkish_forms(f))]
    assert not missing, f"README.tr.md lacks README.md's {missing} ({start})"


def test_readme_tr_explains_sampling_and_gpt2_folders_as_readme_does():
    """README.tr.md said only that --temperature, --top-k, --top-p and --seed exist; of GPT-2
    folders it showed the commands but not how their tokenizer is read (and when a folder is
    refused), the Python calls, what the loader maps or save_hf refuses. Each README.md name
    below is now explained in README.tr.md too."""
    en = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    tr = " ".join((ROOT / "README.tr.md").read_text(encoding="utf-8").split())
    names = ("`GPT.generate(idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, "
             "seed=None, use_cache=True, stream=None, vocab_limit=None)`",
             "`nanograd_llm.generate.generate(model, idx, ...)`", "`temperature=0`",
             "`tokenizer.json`", "`added_tokens.json`", "`added_tokens_decoder`",
             "`split_special_tokens`", "`single_word`", 'GPT.from_hf("gpt2")',
             'init_from_hf("gpt2")', 'model.save_hf("my_gpt2")', "`gelu_new`", "`attn.masked_bias`",
             "`bias=False`", "`init_from_hf(dir, block_size=256)`")
    for name in names:
        assert name.replace("`temperature=0`", "`--temperature 0`") in tr, name
        assert name in en, name


def test_readme_tr_names_every_benchmark_script_and_the_gpu_settings():
    """README.tr.md had no GPU section (precision=tf32, the fused CUDA kernels, the CUDA graph
    and cuda_graph=false, the H200 figures) and never listed the benchmark scripts behind its
    figures; every script of benchmarks/ is named in both READMEs."""
    scripts = sorted(p.name for p in (ROOT / "benchmarks").iterdir()
                     if p.suffix in (".py", ".sh") and not p.name.startswith("_"))
    for readme in ("README.md", "README.tr.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        missing = [n for n in scripts if f"`{n}`" not in text]
        assert not missing, f"{readme} never names {missing}"
    tr = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    for name in ("`precision=tf32`", "`cuda_graph=false`", "`backend.matmul_t(a, b, trans_a, "
                 "trans_b, alpha)`", "`NANOGRAD_LLM_THREADS=1` bütün toplu işi"):
        assert name in " ".join(tr.split()), name


_THREAD_VARS = ("NANOGRAD_LLM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_readmes_name_the_variables_the_thread_count_reads(readme, monkeypatch):
    """README.tr.md said the batch is split into "at most as many parts as there are cores" and
    named only NANOGRAD_LLM_THREADS, where the count is NANOGRAD_LLM_THREADS, else
    OMP_NUM_THREADS, else OPENBLAS_NUM_THREADS, else the cores (README.md says so): a Turkish
    reader who set OMP_NUM_THREADS=1 out of habit turned the split off without being told."""
    from nanograd_llm import backend
    for var in _THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    for i, var in enumerate(_THREAD_VARS):          # the order num_threads() reads them in
        for later in _THREAD_VARS[i + 1:]:
            monkeypatch.setenv(later, "5")
        monkeypatch.setenv(var, "3")
        assert backend.num_threads() == 3, var
        for v in _THREAD_VARS:
            monkeypatch.delenv(v, raising=False)
    text = " ".join((ROOT / readme).read_text(encoding="utf-8").split())
    rule = re.search(r"`NANOGRAD_LLM_THREADS`, [^`]{1,20}`OMP_NUM_THREADS`, [^`]{1,20}"
                     r"`OPENBLAS_NUM_THREADS`", text)
    assert rule, f"{readme} does not name the three variables in the order they are read"
    assert "en fazla çekirdek sayısı kadar" not in text


def test_docs_run_draws_attention_over_a_prompt_of_the_runs_language(tmp_path, monkeypatch):
    """`docs --run` on a run trained on the embedded Turkish corpus drew its attention picture
    over "To be, or not to be, that is": that corpus holds those letters too, and the English
    prompt was tried first. The prompt now suits the run: its characters are in the run's
    vocabulary and its words in the run's corpus."""
    pytest.importorskip("matplotlib")
    from nanograd_llm import viz
    from nanograd_llm.data import load_text
    from nanograd_llm.train import make_config, train
    small = dict(n_layer=1, n_head=2, n_embd=16, block_size=32, batch_size=2, max_iters=2,
                 eval_interval=2, eval_iters=1, warmup_iters=0, lr_decay_iters=2,
                 sample_tokens=0)
    run = tmp_path / "run"
    train(make_config("default", data="embedded", out_dir=str(run),
                      overrides={k: str(v) for k, v in small.items()}), quiet=True)
    prompts = []
    monkeypatch.setattr(viz, "plot_attention",
                        lambda model, tok, prompt, out, title=None: prompts.append(prompt) or
                        Path(out))
    viz.course_images(tmp_path / "img", run_dir=run, log=lambda m: None)
    [prompt] = prompts
    assert "To be" not in prompt, prompt
    corpus = load_text("embedded")[0]
    assert set(prompt) <= set(corpus)
    words = set(re.findall(r"\w+", corpus.casefold()))
    assert len(prompt) >= 12 and all(w in words for w in re.findall(r"\w+", prompt.casefold()))
    # A run on a named corpus that is not in the cache: its words are not looked up (no
    # download for a picture); the vocabulary alone chooses
    import nanograd_llm.data as data_mod
    monkeypatch.setenv("NANOGRAD_LLM_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(data_mod, "_fetch", lambda *a, **k: pytest.fail("downloaded"))
    manifest = json.loads((run / "checkpoint.json").read_text(encoding="utf-8"))
    manifest["train_config"]["data"] = "seyfettin"
    (run / "checkpoint.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert viz._run_corpus_words(run) is None
    manifest["train_config"]["data"] = str(tmp_path / "story.txt")
    (tmp_path / "story.txt").write_text("Bir varmış bir yokmuş, evvel zaman içinde",
                                        encoding="utf-8")
    (run / "checkpoint.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "evvel" in viz._run_corpus_words(run)


def test_run_prompt_follows_the_runs_language():
    """Without the corpus at hand the vocabulary decides (an English character vocabulary
    cannot write Turkish letters; a BPE packs its own language into fewer tokens); with it,
    the prompt whose words the corpus holds (a Turkish story corpus gets the tale opening)."""
    from nanograd_llm.tokenizers import CharTokenizer
    from types import SimpleNamespace

    from nanograd_llm.viz import _run_prompt

    def _words(text):
        return re.findall(r"\w+", text.casefold())
    model = SimpleNamespace(block_size=64)          # only its context length is read
    english = ("To be, or not to be, that is the question: Dorothy lived in the midst of the "
               "great Kansas prairies with the quick brown fox.\n") * 3
    turkish = ("Bir varmış bir yokmuş, evvel zaman içinde, kalbur saman içinde, develer "
               "tellal iken, pireler berber iken; merhaba dünya. Dikkatte her konum yalnızca "
               "kendine ve önceki konumlara bakar. Çocuk ağaçtan düşmüş, ılık süt içmiş.\n") * 3
    assert _run_prompt(model, CharTokenizer.from_text(english)).startswith("Dorothy")
    assert _run_prompt(model, CharTokenizer.from_text(english),
                       set(_words("to be or not that is the question"))).startswith("To be")
    stories = set(_words("bir varmış bir yokmuş evvel zaman içinde her önceki dünya"))
    both = CharTokenizer.from_text(english + turkish)
    assert _run_prompt(model, both, stories).startswith("Bir varmış")
    assert _run_prompt(model, both).startswith("Dikkatte")
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    tr_text = ("Eski zamanlarda bir köyde yaşlı bir değirmenci yaşarmış. Her sabah erkenden "
               "kalkar, taşı döndürür, köylülerin buğdayını un yaparmış. Bir gün uzak "
               "diyarlardan gelen bir yolcu ona neden hiç yorulmadığını sormuş.\n") * 30
    en_text = ("Once upon a time there was an old miller who lived in a village. Every "
               "morning he rose early, turned the stone and ground the farmers' wheat into "
               "flour. One day a traveller from far away asked him why he never grew tired."
               "\n") * 30
    for text, turkish_run in ((tr_text, True), (en_text, False)):
        prompt = _run_prompt(model, BPETokenizer.train(text, 320))
        assert bool(TURKISH_LETTERS.search(prompt)) is turkish_run, prompt


def test_sinusoidal_wavelengths_the_chapters_state_are_the_tables():
    """The positional-encoding and Transformer chapters gave the wavelengths as "from 2π to
    10000·2π"; pair i's is 2π·10000^(2i/C), so the longest, at i = C/2 − 1, is
    2π·10000^((C−2)/C) (for the course picture's C = 64 about 7499·2π, not 10 000·2π)."""
    import math

    from nanograd_llm.course import transformer
    from nanograd_llm.layers import positional
    from nanograd_llm.layers.positional import sinusoidal_table
    for C in (16, 64, 512):
        pe = sinusoidal_table(2, C, np, np.float64)
        # at pos = 1 each pair's angle is its frequency (≤ 1 rad): wavelength = 2π / frequency
        waves = 2 * math.pi / np.arctan2(pe[1, 0::2], pe[1, 1::2])
        assert waves[0] == pytest.approx(2 * math.pi)
        assert waves[-1] == pytest.approx(2 * math.pi * 10000 ** ((C - 2) / C))
        assert waves.max() < 10000 * 2 * math.pi * 10000 ** (-2 / C) * (1 + 1e-9)
    for doc in (positional.__doc__, transformer.__doc__):
        flat = " ".join(doc.split())
        assert "10000^((C−2)/C)" in flat
        assert not re.search(r"2π'?den `?10000·2π`?'ye kadar", flat), flat
    assert "≈ 7499·2π" in " ".join(positional.__doc__.split())
    assert round(10000 ** (62 / 64)) == 7499


def test_layer_chapter_figures_are_what_the_code_gives():
    """The sizes and thresholds the layer chapters (and the evaluation chapter) state, computed
    from the constants and presets they describe: a retuned constant or preset must take its
    figure along."""
    import inspect

    from nanograd_llm import backend, evaluate
    from nanograd_llm.config import make_config
    from nanograd_llm.layers import block, causal_tiles, embedding, mlp

    def flat(module):                                # comment blocks read as running text
        lines = (l.strip().lstrip("#") for l in inspect.getsource(module).splitlines())
        return " ".join(" ".join(lines).split())

    def num(s):                                      # "40 960" -> 40960, "12,6" -> 12.6
        return float(s.replace(" ", "").replace(".", "").replace(",", "."))
    MiB, M = 1 << 20, 1e6
    # embedding.py: ONE_HOT_MAX float32 values
    m = re.search(r"en büyük N·V \(float32'de (\d+) MiB'lık", flat(embedding))
    assert m and embedding.ONE_HOT_MAX * 4 == int(m.group(1)) * MiB
    # mlp.py / block.py: the recompute thresholds and the shakespeare activation sizes
    sh = make_config("shakespeare")
    h_bytes = sh.batch_size * sh.block_size * 4 * sh.n_embd * 4          # (B, T, 4C) float32
    doc = " ".join(mlp.__doc__.split())
    m = re.search(r"`GELU_RECOMPUTE_MIN` = (\d+) M öğe", doc)
    assert m and mlp.GELU_RECOMPUTE_MIN == int(m.group(1)) * MiB
    m = re.search(r"\(B, T, 4C\) boyutunda bir dizidir \(shakespeare ayarında (\d+) MB\)", doc)
    assert m and int(h_bytes / M) == int(m.group(1))
    m = re.search(r"katman başına (\d+) MB daha, altı katmanda (\d+) MB", doc)
    assert m and sh.n_layer == 6 and int(h_bytes / M) == int(m.group(1)) and \
        sh.n_layer * int(m.group(1)) == int(m.group(2))
    assert mlp.GELU_RECOMPUTE_MIN <= sh.batch_size * sh.block_size * 4 * sh.n_embd // 2
    m = re.search(r"`LN_RECOMPUTE_MIN` = (\d+) M öğe", " ".join(block.__doc__.split()))
    assert m and block.LN_RECOMPUTE_MIN == int(m.group(1)) * MiB
    # causal_tiles.py: the worked tile example and the batch chunks
    doc = " ".join(causal_tiles.__doc__.split())
    m = re.search(r"T = (\d+), t = (\d+) için: karo başına anahtar sayısı ([\d, ]+?) → toplam iş "
                  r"`\d+·\([\d+]+\) = ([\d ]+)`, yoğun hesapta `\d+·\d+ = ([\d ]+)`: .*?"
                  r"\*\*%(\d+,\d+)'i\*\*", doc)
    assert m, "the tile example is gone"
    T, t = int(m.group(1)), int(m.group(2))
    bounds = causal_tiles.tile_bounds(T)
    assert causal_tiles.tile_rows(T) == t
    assert [r1 for _, r1 in bounds] == [int(k) for k in m.group(3).split(", ")]
    work = sum((r1 - r0) * r1 for r0, r1 in bounds)
    assert (work, T * T) == (num(m.group(4)), num(m.group(5)))
    assert round(100 * (1 - work / (T * T)), 1) == num(m.group(6))
    m = re.search(r"karo boyu `T/(\d)`'tür, (\d+) ile (\d+) arasında", doc)
    assert m and (causal_tiles.TILE_MIN, causal_tiles.TILE_MAX) == (int(m.group(2)),
                                                                    int(m.group(3)))
    assert causal_tiles.tile_rows(4 * 100) == 100 and int(m.group(1)) == 4
    m = re.search(r"B = (\d+), nh = (\d+), t = (\d+), T = (\d+)'da `[\d·]+ bayt ≈ (\d+,\d) MB`"
                  r".*?`CHUNK_BYTES` = (\d+) MiB, yani burada (\d+) öğe ≈ (\d+,\d) MB", doc)
    assert m, "the chunk example is gone"
    B, nh, t, T = (int(m.group(i)) for i in range(1, 5))
    tile_bytes = nh * t * T * 4
    assert round(B * tile_bytes / M, 1) == num(m.group(5))
    assert causal_tiles.CHUNK_BYTES == int(m.group(6)) * MiB
    chunk = causal_tiles.batch_chunk(B, nh, T, 4, t)
    assert chunk == int(m.group(7)) and round(chunk * tile_bytes / M, 1) == num(m.group(8))
    # backend.py: the element counts from which arrays are cut into blocks, and the block size
    m = re.search(r"yalnızca (\d+) M öğeden büyük dizilere .*? ve (\d+) K öğelik parçalarla",
                  flat(backend))
    assert m and (backend.PARALLEL_MIN_ELEMS, backend.BLOCK_ELEMS) == \
        (int(m.group(1)) << 20, int(m.group(2)) << 10)
    # evaluate.py: the positions of the trainer's val estimate on baby
    baby = make_config("baby")
    m = re.search(r"`baby` ayarında (\d+) × (\d+) pencere × (\d+) konum ≈ (\d+) bin konum",
                  " ".join(evaluate.__doc__.split()))
    assert m and (baby.eval_iters, baby.batch_size, baby.block_size) == \
        tuple(int(m.group(i)) for i in (1, 2, 3))
    assert round(baby.eval_iters * baby.batch_size * baby.block_size / 1000) == int(m.group(4))


def _corpus_text_sha256(path) -> str:
    """The sha256 of the text a run on the file trains on (its data_sha256): a Windows checkout
    (core.autocrlf=true) gives the corpus CRLF line ends, which the trainer reads as LF."""
    import hashlib
    from nanograd_llm.data import read_text_file
    return hashlib.sha256(read_text_file(path).encode("utf-8")).hexdigest()


def test_the_corpus_digest_the_readmes_name_ignores_a_checkouts_line_ends(tmp_path):
    """The README digest test hashed the file's bytes, so it failed in a Windows checkout of
    an unchanged corpus (CRLF line ends): it hashes the text the trainer reads."""
    corpus = ROOT / "nanograd_llm" / "corpus" / "turkce_aciklamalar.txt"
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(corpus.read_bytes().replace(b"\n", b"\r\n"))
    assert _corpus_text_sha256(crlf) == _corpus_text_sha256(corpus)


def test_readmes_default_run_figures_name_the_corpus_that_ships():
    """The default run's loss figures depend on the embedded corpus, which is rebuilt whenever
    a Turkish explanation changes. Both READMEs name the corpus the figures were measured on by
    its sha256; after a rebuild they kept naming the old one (and their figures were stale)
    until someone noticed. Re-measure the figures, then update the digest."""
    corpus = ROOT / "nanograd_llm" / "corpus" / "turkce_aciklamalar.txt"
    digest = _corpus_text_sha256(corpus)
    for page, pattern in (("README.md", r"embedded corpus whose sha256 begins `([0-9a-f]{12})`"),
                          ("README.tr.md", r"sha256 özeti `([0-9a-f]{12})`")):
        m = re.search(pattern, " ".join((ROOT / page).read_text(encoding="utf-8").split()))
        assert m, page
        assert digest.startswith(m.group(1)), (
            f"{page} gives the default run's figures for the corpus {m.group(1)}, but the "
            f"embedded corpus is now {digest[:12]}: re-measure them (README's 'On a `default` "
            f"run' paragraph) and update the digest")


def test_the_embedded_corpus_is_built_from_todays_explanations():
    """The embedded corpus is the package's Turkish docstrings and comments, gathered by
    scripts/build_corpus.py. Nothing checked that it was rebuilt after an explanation changed:
    a stale corpus still matched the digest the READMEs name, so the default run trained on
    text the package no longer holds and the test above could not notice."""
    from nanograd_llm.data import read_text_file
    script = ROOT / "scripts" / "build_corpus.py"
    spec = importlib.util.spec_from_file_location("_build_corpus_fresh", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    shipped = read_text_file(ROOT / "nanograd_llm" / "corpus" / "turkce_aciklamalar.txt")
    assert build.gather() == shipped, (
        "the embedded corpus is out of date: run `python3 scripts/build_corpus.py`, then "
        "re-measure README's 'On a `default` run' figures (and README.tr.md's) and update "
        "the digest both name")


def test_gpt_chapter_figures_are_what_the_code_gives():
    """The GPT chapter's size table and loss figures, computed: the default run's vocabulary
    on the embedded corpus was given as "V ≈ 170" (it is 181, hence the 0,36 million)."""
    import math

    from nanograd_llm.config import make_config
    from nanograd_llm.course import gpt as chapter
    from nanograd_llm.data import load_text
    from nanograd_llm.models.gpt import GPT, GPTConfig
    from nanograd_llm.tokenizers import CharTokenizer
    doc = " ".join(chapter.__doc__.split())

    def tr(x, digits):                                    # 0.359 -> "0,36"
        return f"{x:.{digits}f}".replace(".", ",")

    def size(preset, vocab_size):
        c = make_config(preset)
        return GPT(GPTConfig(vocab_size=vocab_size, block_size=c.block_size, n_layer=c.n_layer,
                             n_head=c.n_head, n_embd=c.n_embd, bias=c.bias)).num_params()
    V = CharTokenizer.from_text(load_text("embedded")[0]).vocab_size
    assert f"gömülü derlem: V = {V}) | 3 | 96 | 4 | yaklaşık {tr(size('default', V) / 1e6, 2)} milyon" in doc
    assert (f"`GPTConfig()` (V = 65) | 4 | 128 | 4 | yaklaşık "
            f"{tr(size('baby', 65) / 1e6, 1)} milyon") in doc
    assert tr(GPT(GPTConfig()).num_params() / 1e6, 1) == tr(size("baby", 65) / 1e6, 1)
    gpt2 = chapter.count_params(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12,
                                          n_head=12, n_embd=768))
    assert f"| 12 | 768 | 12 | {round(gpt2 / 1e6)} milyon |" in doc
    gpt3 = chapter.count_params(GPTConfig(vocab_size=50257, block_size=2048, n_layer=96,
                                          n_head=96, n_embd=12288))
    assert f"| 96 | 12 288 | 96 | {round(gpt3 / 1e9)} milyar |" in doc
    assert f"{tr(50257 * 768 / 1e6, 1)} milyon parametre (50 257 × 768)" in doc
    assert f"65 karakterlik sözlükte ≈ {tr(math.log(65), 2)}" in doc
    assert f"{V} karakterlik sözlüğünde ≈ {tr(math.log(V), 2)}" in doc


def test_turkish_prose_writes_numbers_one_way():
    """Turkish prose writes a decimal with a comma (0,02), so thousands are not grouped with a
    dot: the BPE chapter wrote "66.912 parça", "17.700", "1.024'lük", "4.096'lık" and
    "100.000" beside the "50 257" and "12 288" of the other chapters. Five digits and more are
    grouped with a space (two chapters wrote "V = 50257", the primer "100000001"); four digits
    stay solid, as in "1000 adım", "4300" and "L = 1024" (two chapters wrote "7 499·2π" and
    "2 858–2 916 MiB")."""
    rules = {"dot-grouped": re.compile(r"(?<![\w.,])\d{1,3}(?:\.\d{3})+(?![\w.,])"),
             "five digits or more, ungrouped": re.compile(r"(?<![\w.,+^])\d{5,}(?![\w.,^])"),
             "four digits, grouped": re.compile(r"(?<![\w.,])\d \d{3}(?![\w.,]| \d{3})")}
    bad = [f"{where}: {m.group()} ({rule})" for where, line in turkish_prose_lines()
           for rule, pattern in rules.items() for m in pattern.finditer(line)]
    assert not bad, bad


def test_the_course_outputs_write_numbers_as_the_text_does(capsys, tmp_path, monkeypatch):
    """The chapters' demos printed Turkish lines with Python's number forms: "809,856
    parametre" (a comma is the decimal mark in Turkish), "kayıp 3.466 → 1.760", "174.6 milyar";
    the loss picture noted "en düşük: 1.234" over axes of "1.5". They now write 809 856,
    3,466 and 174,6, and every number axis of the pictures a decimal comma."""
    from nanograd_llm.course import bigram, gpt, transformer, tr_number
    assert (tr_number(124439808), tr_number(0.3594, 2), tr_number(1000)) == \
        ("124 439 808", "0,36", "1000")
    bigram.demo(steps=60)
    transformer.demo()
    gpt.demo()
    out = [l for l in capsys.readouterr().out.splitlines() if not l.startswith("örnek:")]
    assert {"L=4, C=128: 809 856 parametre", "L=12, C=768: 124 439 808 parametre"} <= set(out)
    assert [l for l in out if re.search(r"\d\.\d", l)] == []
    pytest.importorskip("matplotlib")
    from nanograd_llm import viz
    figures = []
    monkeypatch.setattr(viz, "_decimal_comma",
                        lambda fig, keep=viz._decimal_comma: (figures.append(fig), keep(fig)))
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "train_loss": 3 - s / 50, "val_loss":
                                           3.1 - s / 60}) + "\n" for s in range(0, 100, 10)))
    viz.plot_loss_curve(metrics, tmp_path / "loss.png")
    viz.plot_positional_encoding(tmp_path / "pe.png")
    texts = []
    for fig in figures:
        fig.canvas.draw()
        for ax in fig.axes:
            texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
            texts += [c.get_text() for c in ax.texts]
    assert any("," in t for t in texts) and not [t for t in texts if re.search(r"\d\.\d", t)]
    assert "en düşük: 1,600 (adım 90)" in texts


def test_the_step_axis_groups_thousands_as_the_text_does(tmp_path, monkeypatch):
    """A loss picture of a long run labelled its step axis 10000, 20000: the Turkish text
    writes numbers of five or more digits with spaces (10 000, tr_number). Fractions and
    four-digit numbers stay as they are."""
    pytest.importorskip("matplotlib")
    from nanograd_llm import viz
    figures = []
    monkeypatch.setattr(viz, "_decimal_comma",
                        lambda fig, keep=viz._decimal_comma: (figures.append(fig), keep(fig)))
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "train_loss": 2 - s / 40000,
                                           "val_loss": 2.1 - s / 50000}) + "\n"
                               for s in range(0, 20001, 2500)))
    viz.plot_loss_curve(metrics, tmp_path / "loss.png")
    figures[0].canvas.draw()
    ax = figures[0].axes[0]
    steps = [t.get_text() for t in ax.get_xticklabels()]
    assert "10 000" in steps and "20 000" in steps and "5000" in steps, steps
    assert not [t for t in steps if re.search(r"\d{5}", t)], steps
    from matplotlib.ticker import ScalarFormatter
    fmt = ax.xaxis.get_major_formatter()
    assert isinstance(fmt, ScalarFormatter)
    fmt.set_useOffset(False)
    fmt.set_locs([12345.0, 12345.5, 12346.0])
    assert fmt(12345.5) == "12 345,5"
    fmt.set_locs([0.0000120, 0.0000125, 0.0000130])
    assert "," in fmt(0.0000125) and " " not in fmt(0.0000125), fmt(0.0000125)
    fmt.set_locs([1.00001, 1.000015, 1.00002])        # five and more decimals: not grouped
    assert fmt(1.000015) == "1,000015"


# One name for each concept the Turkish text names: {the other name (a regex on lower-case
# text): the one the project uses}. README.tr.md's "Terimler" table lists the course's terms.
ONE_NAME = {
    r"\bkelime": "sözcük",
    r"\btamsayı": "tam sayı",
    r"\bişlev": "fonksiyon",
    r"\beleman\b": "öğe",
    r"\bmesaj": "ileti",
    r"\byapılandırma": "ayarlar (eğitimin) ya da config.json (bir GPT-2 klasörünün)",
    r"\bkoşu(?![lt])": "eğitim (bir eğitim, içinde bir eğitim bulunan klasör)",
    r"bağlamı \(prompt\)": "istem (prompt)",
    r"\bsına(?:ma\b|n)": "test",
    r"\bcupy'(?:nin|de|ye)": "CuPy'ın, CuPy'da, CuPy'a (NumPy'ın, NumPy'da gibi: 'kupay')",
    r"'n?[iıuü]n cpu çekirde": "'CPU çekirdeği' for a processor core only; a library's kernel "
                              "is its 'CPU'da çalışan … çekirdeği'",
}


def test_turkish_prose_names_each_concept_one_way():
    """The same concept had two Turkish names: 'kelime' in the course chapters and the
    pictures' comments, 'sözcük' in the BPE chapter, the README and the settings; 'tamsayı'
    in the primer and the embedding chapter, 'tam sayı' (the dictionary's spelling) in the
    settings, the tokenizers and the CPU kernels. A Python or cuBLAS function was an 'işlev'
    three times (a 'fonksiyon' 26 times), an array element an 'eleman' once ('öğe' 68 times),
    an error message a 'mesaj' once ('ileti' 18 times). The trainer's comments called the
    training settings 'yapılandırma' where the README and the settings chapter say 'eğitim
    ayarları', and hf.py called a GPT-2 folder's config.json the same. A training run was a
    'koşu' in the trainer's comments and a 'çalıştırma' on the course page, an 'eğitim' in the
    README ("içinde bir eğitim bulunan klasör") and most chapters. The text-generation chapter
    named the prompt 'başlangıç bağlamı (prompt)', every other chapter 'istem (prompt)'. The
    layer-norm chapter pointed to its test with 'Sınama:' where the BPE chapter says 'Testler:'
    and the README 'testler'; the CUDA kernels' and the CUDA graph's chapters and README.tr.md's
    Bölümler said a check 'sınanır' where every other page says 'test edilir'. NumPy took 'NumPy'ın',
    'NumPy'da' everywhere, CuPy 'CuPy'nin', 'CuPy'de' in most places and 'CuPy'ın' in README.tr.md.
    'CPU çekirdeği' is a processor core (README.tr.md's glossary), but the layer-norm chapter
    called PyTorch's layer-norm kernel 'PyTorch'un CPU çekirdeği'."""
    def lower(text):
        return text.replace("I", "ı").replace("İ", "i").lower()
    bad = [f"{where}: {m.group()} (the project says {ONE_NAME[pattern]})"
           for where, line in turkish_prose_lines() for pattern in ONE_NAME
           for m in re.finditer(pattern, lower(line))]
    assert not bad, bad


def test_readme_tr_glossary_names_the_terms_the_course_uses():
    """README.tr.md's "Terimler" table (Turkish term | English term | meaning): each Turkish
    term is one the chapters use, so a renamed term cannot leave the table behind."""
    text = (ROOT / "README.tr.md").read_text(encoding="utf-8")
    table = re.search(r"^## Terimler\n(.*?)(?=^## )", text, re.S | re.M)
    assert table, "README.tr.md has no Terimler section"
    rows = re.findall(r"^\| ([^|`]+?) \| ([^|]+?) \| [^|]+ \|$", table.group(1), re.M)[1:]
    assert len(rows) >= 20

    def lower(t):
        return t.replace("I", "ı").replace("İ", "i").lower()
    course = " ".join(lower(line) for where, line in turkish_prose_lines()
                      if not where.startswith("README"))
    course = " ".join(course.split())
    missing = [term for turkish, _ in rows for term in turkish.split(", ")
               if not re.search(r"\b" + re.escape(lower(term)), course)]
    assert not missing, missing


def test_a_bad_metrics_line_names_the_column_in_the_line_as_written(tmp_path):
    """The column of a bad metrics line counts characters of the line as it is in the file:
    the blanks before the JSON count (json sees the stripped line) and a multi-byte character
    before a byte that is not UTF-8 is one column, not two."""
    from nanograd_llm.viz import read_metrics
    m = tmp_path / "m.jsonl"
    m.write_bytes(b'{"step": 1, "train_loss": 2.0}\n  {oops\n')
    with pytest.raises(ValueError, match=r"m\.jsonl:2: not valid JSON \(.*, column 4\)"):
        read_metrics(m)
    m.write_bytes('{"step": "é'.encode() + b'\xff"}\n')
    with pytest.raises(ValueError, match=r"m\.jsonl:1: not UTF-8 text \(byte 0xff, .*column 12\)"):
        read_metrics(m)
