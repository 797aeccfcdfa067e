"""
# Kursu statik HTML'e çevirmek: `nanograd-llm docs --out DIR`

Bu modül, kursun bütün bölümlerini (bkz. `nanograd_llm/course/__init__.py`, `PARTS`)
bir klasöre HTML olarak yazar. Her modül için iki sütunlu bir sayfa üretilir: solda Türkçe
açıklama, sağda renklendirilmiş kod. Yöntem, pycco/docco araçlarınınkiyle aynıdır:

1. Modülün belge dizesi (docstring) Markdown olarak okunur ve sayfanın başına konur.
2. Kalan kaynak, **bölümlere** ayrılır: bir bölüm, art arda gelen tam satırlık `#`
   yorumlarından oluşan bir açıklama bloğu ile onu izleyen kod satırlarıdır. Açıklama
   sola, kod sağa, aynı satır hizasına yerleştirilir.
3. Satır sonundaki yorumlar (`x = ...  # (B, T, C)`) kodun parçası sayılır ve sağda kalır.

Yorumları bulmak için `tokenize` kullanılır; böylece çok satırlı bir dizenin içindeki
`#` karakterleri yanlışlıkla yorum sanılmaz.

Kursta kullanılan resimler (`img/*.png`) de üretim sırasında çizilir; depoya ikili dosya
eklenmez. Bütün bağlantılar göreli olduğundan klasör, ağ bağlantısı olmadan `file://`
üzerinden de açılabilir. Matematik için dış bir betik (CDN) kullanılmaz: formüller temiz
Unicode ile yazılmıştır ve eşit aralıklı bir yazı tipiyle gösterilir.

Markdown ve Pygments isteğe bağlı bağımlılıklardır: `pip install -e ".[docs]"`.
"""
from __future__ import annotations

import html
import importlib
import importlib.util
import io
import os
import re
import shutil
import sys
import tokenize
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import (atomic_write_text, could_not_write, make_folder, make_new_folder,
                     refuse_dangling_link, remove_stale_temporaries, signals_deferred)
from .backend import shown_items
from .course import PARTS

_DOCS_HELP = ('the docs command needs Markdown and Pygments: pip install markdown pygments '
              '(in a source checkout: pip install -e ".[docs]")')


def _require_docs_libs():
    """Import markdown and pygments lazily, with an error that names the extra."""
    try:
        import markdown  # noqa: F401
        import pygments  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"{_DOCS_HELP} ({e})") from None


# ## Kaynağı bölümlere ayırmak
# Bir `Section`, soldaki açıklama (Markdown metni) ile sağdaki kod satırlarını ve kodun
# kaynak dosyadaki ilk satır numarasını tutar.

@dataclass
class Section:
    doc: str
    code: str
    first_line: int
    lines: list = field(default_factory=list)


def _docstring_span(source: str):
    """(docstring text, first line, last line) of the module docstring, or (None, 0, 0)."""
    import ast
    tree = ast.parse(source)
    if tree.body and isinstance(tree.body[0], ast.Expr) and \
            isinstance(getattr(tree.body[0], "value", None), ast.Constant) and \
            isinstance(tree.body[0].value.value, str):
        node = tree.body[0]
        return node.value.value, node.lineno, node.end_lineno
    return None, 0, 0


def _full_line_comments(source: str) -> dict[int, str]:
    """{line number: comment text} for lines that hold nothing but a comment."""
    out = {}
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            if lines[row - 1][:col].strip() == "":
                out[row] = tok.string
    return out


# Ayraç yorumu "# -- forward -----": tirelerin ardından bir boşluk ya da satırın sonu gelir.
# "# --resume onu sürdürür" gibi bir komut satırı seçeneğiyle başlayan bir açıklama satırı
# ayraç değildir: seçeneğin "--"ı silinip satırın tamamı kalın yazılırdı.
_RULE = re.compile(r"^-{2,}(?:\s+(.*?))?\s*-*$")


def _comment_text(comment: str) -> str:
    """'#  Metin' -> 'Metin' (one leading space removed, the rest kept for Markdown)."""
    text = comment[1:]
    if text.startswith(" "):
        text = text[1:]
    m = _RULE.match(text.strip())
    if m:                      # "# -- forward ------" -> "**forward**"
        return f"**{m.group(1)}**" if m.group(1) else ""
    return text


def split_sections(source: str) -> tuple[str | None, list[Section]]:
    """Split Python source into (module docstring, [(comment block, code)...]).

    Lines of the module docstring are removed from the code. A comment block starts a new
    section; the code lines after it, up to the next comment block, belong to it.
    """
    doc, d0, d1 = _docstring_span(source)
    comments = _full_line_comments(source)
    lines = source.splitlines()
    sections: list[Section] = []
    cur = Section("", "", 1)
    doc_lines: list[str] = []
    in_comment = False
    for no, line in enumerate(lines, start=1):
        if d0 <= no <= d1:
            continue
        if no == 1 and line.startswith("#!"):
            continue
        if no in comments and not comments[no].lstrip("#").strip().startswith(("noqa", "type:")):
            if not in_comment:
                # Yeni bir açıklama bloğu: önceki bölümü kapat.
                if cur.lines or doc_lines:
                    cur.doc = "\n".join(doc_lines)
                    sections.append(cur)
                cur = Section("", "", no)
                doc_lines = []
                in_comment = True
            doc_lines.append(_comment_text(comments[no]))
            continue
        if in_comment:
            in_comment = False
            cur.first_line = no
        if not cur.lines:
            cur.first_line = no
        cur.lines.append(line)
    if cur.lines or doc_lines:
        cur.doc = "\n".join(doc_lines)
        sections.append(cur)
    # Boş satırları kırp; satır numaralarını buna göre kaydır.
    out = []
    for s in sections:
        while s.lines and not s.lines[0].strip():
            s.lines.pop(0)
            s.first_line += 1
        while s.lines and not s.lines[-1].strip():
            s.lines.pop()
        s.code = "\n".join(s.lines)
        if s.code or s.doc.strip():
            out.append(s)
    return doc, out


# ## Bir modülü bulmak
# Modüller içe aktarılmadan (import edilmeden) yalnızca kaynak dosyaları okunur: belge
# üretmek için bir modülün isteğe bağlı bağımlılıklarının kurulu olması gerekmez.

def module_source(name: str) -> tuple[str, str] | None:
    """(source text, path relative to the repository) for a module, or None if missing."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    path = Path(spec.origin)
    # Bağlantılı (symlink) bir klasörden ulaşılan bir depoda yol, çözülmüş hâliyle karşılaştırılır
    # ve göreli yol da o çözülmüş hâlinden alınır (çözülmemiş yolla relative_to ValueError verirdi)
    root = Path(__file__).resolve().parent.parent
    rel = path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path
    return path.read_text(encoding="utf-8"), str(rel).replace(os.sep, "/")


def page_name(module: str) -> str:
    """'nanograd_llm.layers.linear' -> 'layers.linear.html'."""
    short = module.split(".", 1)[1] if module.startswith("nanograd_llm.") else module
    return short + ".html"


def chapter_title(doc: str | None, module: str) -> str:
    """The first Markdown heading of the docstring, else the module name."""
    for line in (doc or "").splitlines():
        s = line.strip()
        if s.startswith("# "):
            return s[2:].strip()
    return module


# ## HTML üretimi
# Markdown metni `tables`, `fenced_code` ve `sane_lists` eklentileriyle HTML'e çevrilir;
# kod blokları Pygments ile renklendirilir. Kod sütununda her satırın başına kaynak
# dosyadaki satır numarası yazılır.

_LIST_ITEM = re.compile(r"^( *)([*+-]|\d+\.)\s")


def _fix_lists(text: str) -> str:
    """Small Markdown repairs so docstrings written in the CommonMark habit render well.

    * A list right after a paragraph line gets the blank line Python-Markdown needs (only a
      bullet or "1." starts a list there, as in CommonMark).
    * A sub-list indented by 1-3 spaces under a list item is re-indented to 4 spaces.
    * A block indented by 5-7 spaces after a blank line inside a list item (a formula) is
      moved to 8 spaces, so it renders as a code block inside the item.
    Lines inside fenced or indented code blocks are left alone.
    """
    out: list[str] = []
    in_list = fenced = False
    shift = None          # girinti farkı: liste içindeki bir kod bloğu 8 boşluğa taşınır
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = _LIST_ITEM.match(line)
        if fenced or (line.startswith("    ") and not in_list):
            out.append(line)
            continue
        if not line.strip():
            shift = None
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent < 5:
            shift = None
        elif in_list and (shift is not None or (not m and out and not out[-1].strip())):
            if shift is None:
                shift = max(0, 8 - indent)
            out.append(" " * shift + line)          # liste maddesinin içindeki formül bloğu
            continue
        if m:
            indent = len(m.group(1))
            starts_list = m.group(2) in ("*", "+", "-", "1.")   # CommonMark'taki gibi
            if indent == 0 and not in_list and out and out[-1].strip():
                if not starts_list:                 # "… 4. kısım" gibi bir satır: liste değil
                    out.append(line)
                    continue
                out.append("")                      # listeden önce boş satır
            elif 0 < indent < 4 and in_list:
                line = "    " + line.lstrip()       # alt liste: 4 boşluk
            in_list = True
        elif not line.startswith(" "):
            in_list = False
        out.append(line)
    return "\n".join(out)


def _markdown(text: str) -> str:
    import markdown
    from markdown.inlinepatterns import InlineProcessor

    class LiteralAmpersand(InlineProcessor):
        """An '&' that starts an entity reference, kept as text ('&amp;')."""

        def handleMatch(self, m, data):
            return self.md.htmlStash.store("&amp;"), m.start(0), m.end(0)

    class LiteralPower(InlineProcessor):
        """A '**' between a number and its exponent (10**400), kept as text."""

        def handleMatch(self, m, data):
            return self.md.htmlStash.store("**"), m.start(0), m.end(0)

    class Literal(InlineProcessor):
        """The matched text kept as it is (a dunder name such as __init__)."""

        def handleMatch(self, m, data):
            return self.md.htmlStash.store(m.group(0)), m.start(0), m.end(0)

    md = markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", "codehilite"],
        extension_configs={"codehilite": {"css_class": "highlight", "guess_lang": False}},
        output_format="html")
    # Açıklamalardaki `tmp<pid>` ya da `a<b>c` gibi metinler HTML etiketi değil, metindir:
    # ham HTML desteği kapatılır, < ve > olduğu gibi (&lt; &gt;) gösterilir
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    # Aynı nedenle `&lt;` gibi bir HTML varlığı da karaktere (<) çevrilmez, yazıldığı gibi
    # gösterilir: & işaretinin kendisi &amp; olarak yazılır
    md.inlinePatterns.register(LiteralAmpersand(r"&(?=#?\w+;)", md), "entity", 80)
    # Açıklamalarda üs alma Python'daki gibi yazılır (10**400, 2**53): bir sayıdan ya da
    # kapanan bir ayraçtan sonra gelip bir rakamla süren `**` kalın yazının işareti değil,
    # metindir. Yoksa `10**400 … 10**15` gibi iki üssün arası kalın yazılır, iki `**` de
    # kaybolurdu. (`**toplama**dır` gibi bir ekin önündeki kapanış işareti rakamla sürmez,
    # kalın kalır.)
    md.inlinePatterns.register(LiteralPower(r"(?<=[\w)\]])\*\*(?=\d)", md), "power", 75)
    # Python'un özel adları da (`GPT.__init__`, `__setattr__`) metindir: iki alt çizgi
    # arasındaki ad kalın yazılır (`GPT.**init**`), alt çizgiler kaybolurdu. Kurs kalın yazı için
    # `**` kullanır; alt çizgili kalın yazı yoktur.
    md.inlinePatterns.register(Literal(r"(?<!\w)__[a-z][a-z0-9_]*__(?!\w)", md), "dunder", 74)
    return md.convert(_fix_lists(text))


def _highlight(code: str, first_line: int) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    body = highlight(code, PythonLexer(stripnl=False, stripall=False, ensurenl=False),
                     HtmlFormatter(nowrap=True))
    rows = body.split("\n")
    if rows and rows[-1] == "" and not code.endswith("\n"):
        rows.pop()
    return "\n".join(f'<span class="ln">{first_line + i:>4}</span>{row}'
                     for i, row in enumerate(rows))


CSS = """
:root { --doc-bg: #ffffff; --code-bg: #f6f7f9; --rule: #e3e5e8; --ink: #1d2228;
        --muted: #5d6670; --accent: #b3261e; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: var(--doc-bg);
       font-family: "DejaVu Sans", "Noto Sans", "Segoe UI", "Helvetica Neue", Arial, sans-serif;
       font-size: 15px; line-height: 1.6; }
a { color: #0b5cad; }
header.top { display: flex; gap: 1.2em; align-items: baseline; flex-wrap: wrap;
             padding: 10px 24px; border-bottom: 1px solid var(--rule); background: #fbfbfc;
             position: sticky; top: 0; z-index: 2; font-size: 14px; }
header.top .brand { font-weight: bold; color: var(--accent); text-decoration: none; }
header.top .src { margin-left: auto; color: var(--muted); font-family: "DejaVu Sans Mono", monospace;
                  font-size: 12.5px; }
.page { max-width: 1700px; margin: 0 auto; }
.section { display: grid; grid-template-columns: minmax(0, 44fr) minmax(0, 56fr); }
.section > .doc { padding: 6px 28px 6px 28px; border-right: 1px solid var(--rule);
                  overflow-wrap: break-word; }
.section > .code { background: var(--code-bg); padding: 6px 0 6px 0; overflow-x: auto; }
.section.intro { grid-template-columns: minmax(0, 1fr); }
.section.intro > .doc { padding: 18px 28px 22px; border-right: none; max-width: 1000px; }
.section + .section > .doc, .section + .section > .code { border-top: 1px dashed #eceef1; }
.section.intro + .section > .doc, .section.intro + .section > .code { border-top: 1px solid var(--rule); }
.code pre { margin: 0; padding: 0 16px 0 0; font-size: 12.5px; line-height: 1.5;
            font-family: "DejaVu Sans Mono", "Noto Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace;
            white-space: pre; tab-size: 4; }
.code .ln { display: inline-block; width: 4.2em; padding-right: 1.1em; text-align: right;
            color: #a0a7b0; user-select: none; -webkit-user-select: none; }
.doc h1 { font-size: 1.7em; line-height: 1.25; margin: 0.3em 0 0.6em; }
.doc h2 { font-size: 1.25em; margin: 1.3em 0 0.4em; padding-bottom: 0.15em;
          border-bottom: 1px solid var(--rule); }
.doc h3 { font-size: 1.08em; margin: 1.1em 0 0.3em; }
.doc p { margin: 0.45em 0; }
.doc ul, .doc ol { padding-left: 1.5em; margin: 0.4em 0; }
.doc li { margin: 0.15em 0; }
.doc code { font-family: "DejaVu Sans Mono", "Noto Sans Mono", Menlo, Consolas, monospace;
            font-size: 0.88em; background: #f0f1f4; padding: 0.05em 0.3em; border-radius: 3px; }
.doc pre { background: #f4f5f8; border-left: 3px solid #c9ced6; padding: 8px 12px;
           overflow-x: auto; font-size: 13.5px; line-height: 1.55; }
.doc pre code { background: none; padding: 0; font-size: inherit; }
.doc table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.93em; }
.doc th, .doc td { border: 1px solid #d5d9df; padding: 3px 9px; text-align: left; vertical-align: top; }
.doc th { background: #f0f2f5; }
.doc img { max-width: 100%; height: auto; border: 1px solid var(--rule); margin: 0.5em 0; }
.doc blockquote { margin: 0.6em 0; padding: 0.3em 1em; border-left: 3px solid #e0b252;
                  background: #fdf8ec; }
.missing-img { color: var(--muted); font-style: italic; }
h1[id], h2[id], h3[id], h4[id], h5[id], h6[id] { scroll-margin-top: 3.5em; }
a.anchor { margin-left: 0.35em; color: #a0a7b0; font-weight: normal; text-decoration: none;
           visibility: hidden; }
h1:hover > a.anchor, h2:hover > a.anchor, h3:hover > a.anchor, h4:hover > a.anchor,
h5:hover > a.anchor, h6:hover > a.anchor, a.anchor:focus { visibility: visible; }
nav.pager { display: flex; justify-content: space-between; padding: 14px 28px;
            border-top: 1px solid var(--rule); font-size: 14px; }
.index { max-width: 900px; margin: 0 auto; padding: 16px 28px 48px; }
.index h1 { font-size: 1.9em; margin-bottom: 0.2em; }
.index .lead { color: var(--muted); margin-top: 0; }
.index h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid var(--rule); }
.index ol { padding-left: 1.6em; }
.index li { margin: 0.25em 0; }
.index .mod { color: var(--muted); font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; }
@media (max-width: 900px) {
  .section { grid-template-columns: minmax(0, 1fr); }
  .section > .doc { border-right: none; }
}
"""


def _inline(text: str) -> str:
    """Escape a title for HTML, turning `code` spans into <code> elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


# ## Başlıklara bağlantı
# Her başlık (`<h1>`…`<h6>`) bir `id` alır; böylece bir bölüme `sayfa.html#kimlik` diye
# bağlantı verilebilir, başlığın yanındaki ¶ işareti de bu bağlantıyı gösterir. Kimlik,
# başlığın metninden türetilir (slug): Türkçe harfler ASCII karşılıklarına çevrilir
# (ç→c, ğ→g, ı→i, İ→i, ö→o, ş→s, ü→u; â, î, û da şapkasız), küçük harfe geçilir, kesme
# işareti (`'` ya da `’`) atılır (`Unicode'a` → `unicodea`), kalan her noktalama ve boşluk
# dizisi tek bir `-` olur. Harfleri olduğu gibi bırakmak yerine çevirmenin nedeni büyük-küçük
# harftir: `I`'nın küçüğü Türkçede `ı`, İngilizcede `i`'dir, `İ`'nin küçüğü ise Python'da iki
# karakterdir (`i` + U+0307, birleştirici üst nokta); başlıklarda iki dil de geçtiği için
# (`GIL`, `Isınma`) dördü de (`ı`, `I`, `İ`, `i`) `i` olur. ASCII olmayan başka harfler (ε, β)
# korunur. Aynı sayfada tekrarlanan bir başlığın kimliğine sıra numarası eklenir (`ornekleme`,
# `ornekleme-2`); kimlikler yalnızca metne ve sayfadaki sıraya bağlıdır, her üretimde aynıdır.

_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)
_I_TO_ASCII = str.maketrans({"ı": "i", "I": "i", "İ": "i"})


def heading_slug(text: str) -> str:
    """The id of a heading: 'Kaynağı bölümlere ayırmak' -> 'kaynagi-bolumlere-ayirmak'."""
    s = unicodedata.normalize("NFKD", text.translate(_I_TO_ASCII))
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = re.sub(r"['’]", "", s)
    return re.sub(r"[^\w]+", "-", s).strip("-")


def add_heading_ids(body: str) -> str:
    """Give every <hN> of a page an id (heading_slug, numbered when repeated) and a ¶ link."""
    used: set[str] = set()

    def repl(m):
        level, inner = m.group(1), m.group(2)
        base = heading_slug(html.unescape(re.sub(r"<[^>]+>", "", inner))) or "bolum"
        slug, n = base, 1
        while slug in used:
            n += 1
            slug = f"{base}-{n}"
        used.add(slug)
        return (f'<h{level} id="{slug}">{inner}<a class="anchor" href="#{slug}" '
                f'title="Bu bölüme bağlantı">¶</a></h{level}>')
    return _HEADING.sub(repl, body)


def _page_html(title: str, body: str, src: str = "", prev=None, next_=None) -> str:
    nav = ['<a class="brand" href="index.html">nanograd_llm · Kurs</a>']
    if prev:
        nav.append(f'<a href="{prev[0]}">← {_inline(prev[1])}</a>')
    if next_:
        nav.append(f'<a href="{next_[0]}">{_inline(next_[1])} →</a>')
    if src:
        nav.append(f'<span class="src">{html.escape(src)}</span>')
    pager = ""
    if prev or next_:
        left = f'<a href="{prev[0]}">← {_inline(prev[1])}</a>' if prev else "<span></span>"
        right = f'<a href="{next_[0]}">{_inline(next_[1])} →</a>' if next_ else "<span></span>"
        pager = f'<nav class="pager">{left}{right}</nav>'
    return f"""<!DOCTYPE html>
<html lang="tr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title.replace("`", ""))}</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<header class="top">{' '.join(nav)}</header>
{body}
{pager}
</body>
</html>
"""


def render_module(source: str) -> tuple[str | None, str]:
    """(docstring, HTML of the two-column sections) for one module's source."""
    doc, sections = split_sections(source)
    parts = ['<div class="page">']
    if doc:
        parts.append('<div class="section intro"><div class="doc">'
                     f"{_markdown(_dedent_doc(doc))}</div></div>")
    for s in sections:
        code = f"<pre>{_highlight(s.code, s.first_line)}</pre>" if s.code else ""
        parts.append(f'<div class="section"><div class="doc">{_markdown(s.doc)}</div>'
                     f'<div class="code">{code}</div></div>')
    parts.append("</div>")
    return doc, add_heading_ids("\n".join(parts))


def _dedent_doc(doc: str) -> str:
    import textwrap
    return textwrap.dedent(doc).strip("\n")


_IMG = re.compile(r'<img\s[^>]*src="([^"]+)"[^>]*>')


NO_MATPLOTLIB = ('resimler için matplotlib gerekir: pip install matplotlib '
                 '(kaynak kodun klasöründe: pip install -e ".[plot]")')
NO_IMAGES = "resimsiz üretildi (--no-images)"


def _drop_missing_images(page: str, out: Path, skipped: dict | None = None,
                         reason: str = NO_MATPLOTLIB) -> str:
    """Replace <img> tags whose file was not produced by a short note (no dangling links);
    skipped: file name -> why that picture was not drawn (else `reason`)."""
    skipped = skipped or {}

    def repl(m):
        src = m.group(1)
        if "://" in src:
            return m.group(0)
        if (out / src).is_file():          # tam boyutlu resme bağlantı
            return f'<a href="{src}">{m.group(0)}</a>'
        why = skipped.get(Path(src).name, reason)
        return (f'<span class="missing-img">[görsel üretilmedi: {html.escape(src)}: '
                f"{html.escape(why)}.]</span>")
    return _IMG.sub(repl, page)


def _write(path: Path, text: str) -> None:
    existed = path.exists()
    try:
        make_folder(path.parent)
        atomic_write_text(path, text)
    except OSError as e:
        # Disk dolu, salt okunur dosya sistemi…: ham "[Errno 28] …" yerine sayfanın adı
        raise could_not_write(path, e, existed) from None


# ## Bütün kurs
# `build_docs`, `PARTS` sırasıyla her modülün sayfasını, bir içindekiler sayfasını
# (`index.html`), stil dosyasını ve resimleri yazar. Var olmayan bir modül uyarıyla atlanır.

# `docs` yalnızca kendi yazdığı bir klasörü yeniden yazar: başka dosyalar taşıyan bir klasörde
# (ör. bir web sitesi) index.html'in üstüne yazmak ya da img/*.png dosyalarını "eski resim" diye
# silmek veri kaybı olurdu. Üretilen klasör bir işaret dosyası taşır; işaretten önceki
# sürümlerin ürettiği kurs da index.html'deki başlık bağlantısından tanınır.
DOCS_MARKER = ".nanograd_llm_docs"
_BRAND = '<a class="brand" href="index.html">nanograd_llm · Kurs</a>'


# Öldürülen (SIGKILL, terminalin kapanması, elektrik kesintisi) bir `docs`, yazmakta olduğu
# dosyanın gizli geçici dosyasını (atomic.py'nin ".index.html.ab12cd_3.tmp" adı) geride
# bırakır: bu dosyalar yayımlanan sitede birikirdi. (Ctrl-C ve komut satırında SIGTERM
# temizlik yaptırır, geçici dosya bırakmaz.) Sonraki üretim kendi dosyalarının geçici
# dosyalarını siler. İşaret dosyası yazılırken öldürülen bir üretimin klasöründe yalnızca
# işaretin geçici dosyası kalır: o klasör boş sayılır (yoksa aynı komut bu klasörü, başka
# dosyalar taşıyan bir klasör gibi reddederdi).
_LEFTOVER = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")
# img/ klasörüne `docs`un çizdiği resimler (viz.course_images); başkası silinmez
PICTURES = ("positional_encoding.png", "loss_curve.png", "attention.png")


def _leftover_of(name: str, ours) -> bool:
    """Whether `name` is atomic.py's temporary file of a file `docs` writes: the marker, or a
    file that `ours(name)` accepts."""
    m = _LEFTOVER.fullmatch(name)
    return m is not None and (m.group(1) == DOCS_MARKER or ours(m.group(1)))


def _remove_leftovers(out: Path) -> None:
    """Delete the temporary files a killed `docs` left in out and out/img."""
    for folder, ours in ((out, lambda n: n.endswith((".html", ".css"))),
                         (out / "img", lambda n: n in PICTURES)):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if _leftover_of(p.name, ours):
                # atomic.py'nin temizliği: kilitli olanı (hâlâ yazan başka bir docs) bırakır
                remove_stale_temporaries(folder / _LEFTOVER.fullmatch(p.name).group(1))


def _check_out_folder(out: Path) -> None:
    """Refuse a non-empty --out folder that holds no course written by this command."""
    if not out.is_dir() or (out / DOCS_MARKER).is_file() or not any(out.iterdir()):
        return
    if all(_leftover_of(p.name, lambda n: False) for p in out.iterdir()):
        return              # yalnızca işaretin geçici dosyası: üretim işareti yazarken öldü
    try:
        if _BRAND in (out / "index.html").read_text(encoding="utf-8", errors="replace"):
            return
    except OSError:
        pass
    # İleti klasörde gerçekten ne olduğunu söyler (eğitim klasörünün iletisi gibi); kursun
    # dosyaları ayrıca adlandırılır, kullanıcı onları klasörünün dosyaları sanmasın
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    # "üzerine yazardı" yalnızca adları gerçekten çakışan dosyalar varsa söylenir (hangileri
    # olduğuyla); yoksa kursun dosyaları klasördekilerin arasına karışırdı
    clash = _course_names_in(out)
    what = (f"would overwrite {shown_items(clash, 6)} there" if clash else
            "would be mixed with those files")
    raise ValueError(f"--out {out} is not empty and holds no course written by "
                     f"`nanograd-llm docs` ({shown_items(names, 6)}); the course's files "
                     f"(index.html, style.css, a page per chapter, img/*.png) {what}: choose "
                     f"a new or empty folder")


def _course_names_in(out: Path) -> list[str]:
    """The files of `out` that a build would write over: its pages, style.css, the marker and
    the pictures in img/ (a name taken by a folder counts too)."""
    mine = {"index.html", "style.css", DOCS_MARKER,
            *(page_name(m) for _, modules in PARTS for m in modules)}
    found = [n for n in sorted(mine) if os.path.lexists(out / n)]
    found += [f"img/{n}" for n in PICTURES if os.path.lexists(out / "img" / n)]
    return found


def build_docs(out_dir, run_dir=None, images: bool = True, log=None,
               demo_steps: int | None = None) -> list[Path]:
    """Render the course into out_dir; returns the written HTML pages.

    run_dir: optional training run folder (checkpoint + metrics.jsonl) whose loss curve and
    attention maps are drawn; without it the pictures come from a short demo training of
    `demo_steps` steps (default: course.gpt.train_demo's).
    """
    _require_docs_libs()

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if run_dir is not None and not (Path(run_dir) / "metrics.jsonl").is_file():
        raise ValueError(f"--run {run_dir}: not a training run folder (no metrics.jsonl)")
    out = Path(out_dir)
    refuse_dangling_link(out, "--out")
    if ".." in out.parts and not out.exists():
        # "yeni/../site": "yeni" henüz yok, ama açılınca yol "site"ye çıkar; denetimler orada
        # yapılsın diye yol şimdiden çözülür
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    _check_out_folder(out)
    # top: bu üretimin açtığı en üstteki klasör (out yoksa; üst klasörleri de yoksa onların
    # en üstü). Yarıda kalan bir mkdir -p'nin açtığı boş klasörler make_new_folder'da silinir;
    # disk dolu, izin yok…: ileti train'inkiyle aynıdır ("could not write --out …")
    top, created = make_new_folder(out, "--out")
    try:
        return _render_course(out, run_dir, images, log, demo_steps)
    except BaseException:
        # Yarıda kalan bir üretim, kendi açtığı klasörü yarım bırakmaz; önceden var olan bir
        # klasöre ve içindekilere dokunulmaz. Silme sırasında gelen ikinci bir Ctrl-C ya da
        # SIGTERM, silme bitince etkisini gösterir (eğitim klasörünün temizliği gibi): yoksa
        # klasör yarı silinmiş kalır (işaret dosyası gitmiş, bazı sayfalar duruyor) ve aynı
        # komut onu "başka dosyalar taşıyor" diye reddederdi
        if created:
            with signals_deferred():
                shutil.rmtree(top, ignore_errors=True)
        raise


def _unreadable(e: Exception) -> str:
    """Why a chapter's file could not be split into sections, with its line where known."""
    if isinstance(e, UnicodeDecodeError):
        return f"the file is not UTF-8 text ({e})"
    if isinstance(e, SyntaxError):
        return f"not valid Python: {e.msg} (line {e.lineno})"
    msg, (line, _) = e.args                    # tokenize.TokenError
    return f"not valid Python: {msg} (line {line})"


def _render_course(out: Path, run_dir, images: bool, log, demo_steps) -> list[Path]:
    """build_docs' work once out exists: the marker, pictures, pages and index."""
    from pygments.formatters import HtmlFormatter
    _write(out / DOCS_MARKER, "written by `nanograd-llm docs`\n")
    _remove_leftovers(out)

    chapters = []   # (part, module, page, title, html body, src)
    for part, modules in PARTS:
        for module in modules:
            try:
                found = module_source(module)
                if found is None:
                    log(f"docs: warning: module {module} not found, chapter skipped")
                    continue
                source, rel = found
                doc, body = render_module(source)
            except (SyntaxError, tokenize.TokenError, UnicodeDecodeError) as e:
                raise ValueError(f"chapter {module}: {_unreadable(e)}") from None
            if chapter_title(doc, module) == module:
                # Belge dizesi yok ya da "# Başlık" satırı yok: sayfa yine yazılır (başlığı
                # modülün adıdır), ama açıklaması eksik bir bölüm sessizce kursa girmesin
                what = ("no module docstring" if doc is None
                        else "no '# title' line in its docstring")
                log(f"docs: warning: chapter {module} ({rel}) has {what}; "
                    f"the page is titled {module}")
            chapters.append((part, module, page_name(module), chapter_title(doc, module),
                             body, rel))

    # Önceki bir üretimden kalan resimler silinir: sayfa, bu üretimin çizmediği bir resmi (ör.
    # başka bir eğitimin dikkat haritasını) bu eğitiminmiş gibi göstermesin. Yalnızca `docs`un
    # çizdiği adlar: kullanıcının img/ klasörüne sonradan koyduğu bir resim (logo.png) silinmez
    old_pictures = {p for p in (out / "img" / n for n in PICTURES) if p.is_file()}
    made, skipped, reason = [], {}, NO_IMAGES
    if images:
        from .viz import MatplotlibMissing, course_images
        try:
            made = course_images(out / "img", run_dir=run_dir, log=log, demo_steps=demo_steps,
                                 skipped=skipped)
        except MatplotlibMissing as e:     # yalnızca matplotlib yoksa resimsiz devam edilir
            log(f"docs: pictures skipped: {e}")
            reason = NO_MATPLOTLIB
    for stale in old_pictures - {Path(p) for p in made}:
        stale.unlink(missing_ok=True)

    css = CSS + "\n" + HtmlFormatter(style="friendly").get_style_defs(".code pre") + "\n" + \
        HtmlFormatter(style="friendly").get_style_defs(".doc .highlight") + "\n"
    _write(out / "style.css", css)

    written = []
    for i, (part, module, page, title, body, rel) in enumerate(chapters):
        prev = (chapters[i - 1][2], chapters[i - 1][3]) if i > 0 else None
        nxt = (chapters[i + 1][2], chapters[i + 1][3]) if i + 1 < len(chapters) else None
        text = _page_html(f"{title} — nanograd_llm", body, rel, prev, nxt)
        text = _drop_missing_images(text, out, skipped, reason)
        _write(out / page, text)
        written.append(out / page)

    items = []
    current = None
    for part, module, page, title, _, rel in chapters:
        if part != current:
            if current is not None:
                items.append("</ol>")
            items.append(f"<h2>{html.escape(part)}</h2><ol>")
            current = part
        items.append(f'<li><a href="{page}">{_inline(title)}</a> '
                     f'<span class="mod">{html.escape(rel)}</span></li>')
    if current is not None:
        items.append("</ol>")
    index_body = f"""<div class="index">
<h1>Sıfırdan GPT: NumPy ile, elle yazılmış geri yayılımla</h1>
<p class="lead">nanograd_llm kursu. Her sayfada solda Türkçe açıklama, sağda açıkladığı kod
yer alır. Bölümler okuma sırasıyla dizilmiştir: NumPy ön bilgisinden başlayıp bigram
modeline, Transformer mimarisine, tek tek katmanlara ve GPT'ye varır; ardından hız
(birleşik çekirdekler) kısmı ve ekler gelir.</p>
{''.join(items)}
</div>"""
    _write(out / "index.html", _page_html("nanograd_llm — Kurs", add_heading_ids(index_body)))
    written.insert(0, out / "index.html")
    log(f"docs: wrote {len(written)} pages to {out}")
    return written


__all__ = ["build_docs", "split_sections", "render_module", "module_source", "page_name",
           "chapter_title", "heading_slug", "add_heading_ids", "Section"]
