"""
# Dosyaları atomik yazmak

Bir dosyanın yazılması yarıda kesilirse (Ctrl-C, elektrik kesintisi, disk dolması) yarım kalmış
bir dosya, sağlam eskisinin yerini almamalıdır. Bu yüzden paketteki her çıktı (denetim
noktaları, belirteçleyici dosyaları, Hugging Face klasörleri, kurs sayfaları, resimler) aynı
yoldan yazılır:

1. İçerik, hedefle **aynı klasörde** gizli bir geçici dosyaya yazılır (aynı dosya sistemi:
   taşıma bir kopyalama değil, yalnızca ad değişikliğidir).
2. `fsync` ile diske indirilir.
3. `os.replace` ile gerçek adına taşınır. POSIX'te bu işlem atomiktir: okuyan biri ya eski
   dosyayı ya yenisini görür, hiçbir zaman ikisinin karışımını.
4. Bir hata olursa geçici dosya silinir; hedef olduğu gibi kalır.

`tempfile.mkstemp` geçici dosyayı yalnızca sahibinin okuyabileceği kipte (0600) açar; bu kip
`os.replace` ile hedefe taşınırdı ve örneğin bir web sunucusuna kopyalanan kurs sayfaları
okunamazdı. Bu yüzden geçici dosyanın kipi, sıradan bir `open()`'ın vereceği kipe (0666,
kullanıcının umask'ı çıkarılarak) çevrilir.

## Birlikte anlam taşıyan dosyalar
Bazı çıktılar tek dosya değil, birbirine bağlı bir çifttir: Hugging Face klasöründeki
`config.json` ile `model.safetensors` gibi. Her birini ayrı ayrı atomik yazmak yetmez: ilk
dosya yerine geçtikten sonra ikincisi yazılırken süreç ölürse klasörde yeni ağırlıkların
yanında eski ayarlar kalır. `atomic_write_files` bu yüzden:
- hedef klasör **henüz yoksa** bütün dosyaları aynı üst klasörde gizli bir geçici klasöre
  yazar ve o klasörü tek bir `os.rename` ile hedef adına taşır: klasör ya hiç yoktur ya da
  bütün dosyalarıyla vardır;
- hedef klasör **varsa** (üstüne yazma) önce bütün geçici dosyaları yazıp diske indirir, ancak
  hepsi hazır olunca `os.replace` çağrılarını art arda yapar. Yazma sırasında bir hata ya da
  kesinti eski dosyaların hepsini olduğu gibi bırakır. Ad değişiklikleri sırasında gelen bir
  Ctrl-C ya da SIGTERM, hepsi bitince etkisini gösterir (`signals_deferred`). Bir ad
  değişikliği başarısız olursa değiştirilmiş dosyaların eski hâlleri geri konur (eski
  dosyalara önceden verilen ikinci adlardan: sabit bağ, kopya değil). Geri konamazsa hata hangi
  dosyanın yeni, hangisinin eski olduğunu söyler (`MixedFiles`). Karışık bir çifti haber
  vermeden yalnızca bu birkaç ad değiştirme çağrısının arasındaki mikrosaniyelerde gelen
  SIGKILL ya da elektrik kesintisi bırakabilir (bir klasördeki birden çok dosyayı tek adımda
  değiştiren bir POSIX çağrısı yoktur).

## Öldürülen bir sürecin bıraktığı geçici dosyalar
Süreç SIGKILL ile öldürülür, çöker ya da elektrik kesilirse 4. adım (temizlik) hiç çalışmaz:
geçici dosya (`.model.safetensors.ab12cd_3.tmp`) ya da yarım kurulmuş geçici klasör
(`.gpt2.ab12cd_3.tmp`, içinde yüzlerce MB ağırlık olabilir) hedefin yanında kalır. Aynı hedefe
yapılan bir sonraki yazma, önce bu artıkları siler (`remove_stale_temporaries`). Yalnızca bu
modülün o hedef için verdiği adlar silinir (`.AD.` + `tempfile`'ın 8 karakteri + `.tmp`);
kullanıcının bir dosyasına dokunulmaz. Aynı hedefi **şu anda** yazan başka bir süreç de
olabilir (ör. aynı derlemi aynı anda indiren iki eğitim): onun geçici dosyasını silmek o süreci
hatayla durdururdu. Bu yüzden her yazan, geçici dosyası ya da klasörü üzerinde yazma bitene dek
bir kilit (`fcntl.flock`) tutar; kilitli bir geçici dosya ya da klasör hâlâ süren bir
yazmanındır ve silinmez. Kilit, dosya ya da klasör açılır açılmaz alınır; o arada bir temizlik
onu kilitsiz bulup silerse yazan bunu görür ve yenisini açar (`_make_claimed`). Kilidi işletim
sistemi süreç bitince kaldırır: öldürülmüş bir sürecin
bıraktıkları kilitsizdir.

Windows'ta `fcntl` modülü yoktur; orada kilidin yerini işletim sisteminin bir kuralı tutar.
Python dosyaları `FILE_SHARE_DELETE` paylaşım izni vermeden açar ve böyle açık tutulan bir
dosya, onu açan süreç (ya da başka biri) kapatana dek silinemez: `os.unlink` `PermissionError`
verir. Bu yüzden Windows'ta artık sayılan geçici **dosya** silinmeye çalışılır;
`PermissionError` dosyanın hâlâ açık, yani yazılmakta olduğunu söyler ve dosya kalır. Geçici
**klasörler** Windows'ta silinmez: içlerindeki dosyalar tek tek yazılıp kapatılır, klasörün
kullanımda olduğunu gösteren açık bir dosya her an bulunmaz. Bu kural kilitten zayıftır: yazan
süreç dosyayı bazı kısa anlarda açık tutmaz (`mkstemp` onu açıp kapattıktan sonra, yazan onu
açmadan önce; yazıp kapattıktan sonra, `fsync` için yeniden açmadan önce; ad değişikliğinden
hemen önce). Aynı hedefi aynı anda yazan başka bir sürecin temizliği dosyayı tam o
mikrosaniyelerde silerse yazma ya dosyayı yeniden oluşturup sürer ya da bir hatayla durur;
hedef dosya her iki durumda da yarım kalmaz. `fcntl`'ün olmadığı öteki platformlarda (Windows
dışında) hiçbir artık silinmez: hangisinin hâlâ yazılmakta olduğu bilinemez.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable


def shell_quote(arg) -> str:
    """`arg` as one word of a command the user can paste into their shell: POSIX quoting
    (shlex.quote) on Linux and macOS; on Windows double quotes, which cmd.exe and PowerShell
    both read, and only where needed (shell_note names a path either shell would change in
    them)."""
    # shlex.quote tek tırnak kullanır ve ters bölüyü (\) de tırnağa alır: Windows'ta her yol
    # ('out\default') tek tırnakla yazılırdı; cmd.exe ise tek tırnağı tırnak saymaz, onu yolun
    # bir parçası olarak programa geçirir. Windows dosya adlarında çift tırnak olamaz; tırnak
    # içindeki sondaki ters bölüler, kapanış tırnağını kaçırmasın diye ikilenir ("a b\\").
    # Virgül ve baştaki @ da tırnağa alınır: PowerShell çıplak virgülü dizi işleci okur
    # ("run,v2" programa iki sözcük, "run" ve "v2" olarak gider), baştaki @'yi de "splatting"
    # (@runs, $runs değişkeninin içeriği olur)
    s = str(arg)
    if sys.platform != "win32":
        return shlex.quote(s)
    if re.fullmatch(r"[\w+=:./\\-][\w@+=:./\\-]*", s):
        return s
    return '"' + re.sub(r"(\\+)$", r"\1\1", s) + '"'


def shell_note(*args) -> str:
    """"" where the words shell_quote makes of `args` reach the program as they are when pasted;
    on Windows, for a path no quoting keeps in both cmd.exe and PowerShell, " (note: …)" saying
    which shell would change it and what to do there instead, to follow the command."""
    # Windows'ta iki kabuğun da olduğu gibi bıraktığı bir tırnaklama her yol için yoktur. Çift
    # tırnağın içinde PowerShell $ad'ı değişkenin değeriyle değiştirir, ` işaretini kaçış
    # karakteri sayar (kendisi yoldan düşer, ardındaki karakter de değişebilir), kıvrık çift
    # tırnakları (U+201C, U+201D, U+201E) da tırnak sayar; cmd.exe %AD%'ı tırnak içinde de ortam
    # değişkeninin değeriyle değiştirir. PowerShell'in tek tırnağı her şeyi olduğu gibi bırakır
    # ama cmd.exe tek tırnağı tırnak saymaz, onu yolun bir parçası olarak geçirir.
    # Bu yüzden komut yine çift tırnakla yazılır (öteki kabukta doğrudur) ve yanına hangi
    # kabuğun yolu değiştireceği ve orada ne yapılacağı yazılır: komut güvenliymiş gibi
    # gösterilmez.
    if sys.platform != "win32":
        return ""
    # Önerilen tek tırnak için: PowerShell kıvrık tek tırnakları (U+2018-U+201B) da tek tırnak
    # sayar; yoldaki her biri, düz tek tırnak gibi, ikilenmelidir (yoksa dize orada biterdi)
    text = "".join(str(a) for a in args)
    curly = re.search("[\u2018-\u201b]", text)
    doubled = (" (with each ' and each curly single quote in it doubled)" if curly else
               " (with each ' in it doubled)" if "'" in text else "")
    notes = []
    if re.search("[$`\u201c\u201d\u201e]", text):
        notes.append(f"PowerShell changes $, ` and curly double quotes inside double quotes: "
                     f"there, put the path in single quotes instead{doubled}")
    name = _cmd_variable_in(text)
    if name:
        notes.append(f"cmd.exe replaces %{name}% with the variable's value even inside quotes: "
                     f"run the command from PowerShell, with the path in single quotes{doubled}")
    return f" (note: {'; '.join(notes)})" if notes else ""


def with_command_line_message(error: BaseException, message: str) -> BaseException:
    """`error`, whose own message is for Python callers (keyword arguments: stride=,
    resume=True), carrying `message`: the same fault in the command line's words (the options
    as typed: --stride, --resume), which cli.report_errors prints. Returned for `raise`."""
    # Aynı denetim hem Python API'sine hem komutlara hizmet eder: Python'dan çağırana --stride
    # demek, komut satırında da stride= demek, kullanıcının vermediği bir adı söyler.
    # checkpoint.HuggingFaceFolderError da iletisini böyle iki biçimde taşır
    error.command_line_message = message
    return error


# cmd.exe'nin ortamda olmayan ama %AD% ile okunan kendi değişkenleri (`help set`)
_CMD_DYNAMIC = frozenset({"CD", "DATE", "TIME", "RANDOM", "ERRORLEVEL", "CMDEXTVERSION",
                          "CMDCMDLINE", "HIGHESTNUMANODENUMBER", "__APPDIR__", "__CD__"})


def _cmd_variable_in(text: str) -> str | None:
    """The first %NAME% in text that cmd.exe's prompt would replace (NAME a defined variable,
    also as %NAME:~0,3% or %NAME:a=b%), or None."""
    # cmd.exe isteminde (toplu iş dosyasında değil) tanımsız bir %AD% olduğu gibi kalır ve
    # kapanış %'si sonraki adın açılışı olabilir: "%a %USERNAME%"da ikinci ad USERNAME'dir.
    # Eskiden iki % arasında bir şey olan her yol ("50% of 100%") not alıyordu. Komut, bu
    # sürecin ortamını devralan kabuğa yapıştırılır; Windows'ta adlar büyük/küçük harfe
    # duyarsızdır. Gecikmeli genişletme (!AD!) cmd.exe'de varsayılan olarak kapalıdır
    defined = {k.upper() for k in os.environ} | _CMD_DYNAMIC
    start = text.find("%")
    while start != -1:
        end = text.find("%", start + 1)
        if end == -1:
            return None
        name = text[start + 1:end]
        if name and name.split(":", 1)[0].upper() in defined:
            return name
        start = end
    return None


def _umask() -> int:
    """The process's umask (read from /proc where possible: setting it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory) -> None:
    """fsync a folder so that a rename inside it survives a crash (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Windows'ta başka bir sürecin açık tuttuğu bir dosyanın (o anda `sample`ın okuduğu
# checkpoint.json, yeni yazılmış dosyayı inceleyen bir virüs tarayıcısı, bir dosya eşitleme
# aracı) üzerine ad değiştirme PermissionError verir ("Access is denied"). POSIX'te bu hiç olmaz;
# Windows'ta okuyan dosyayı çoğunlukla milisaniyeler içinde bırakır. Bu yüzden Windows'ta ad
# değiştirme kısa bir süre (RENAME_WAIT_S) yeniden denenir: yoksa birkaç saatlik bir eğitim,
# bir okuyucuyla aynı ana denk gelen bir kayıtta dururdu. Yine olmazsa hata, nedenini ve
# çaresini söyleyen bir iletiyle yükselir.
RENAME_WAIT_S = 2.0


def _rename(src, dst, replace: bool = True) -> None:
    """os.replace (or os.rename, replace=False) of src to dst. On Windows a PermissionError
    (dst held open by another program) is retried for up to RENAME_WAIT_S seconds, then raised
    with a message that says so."""
    move = os.replace if replace else os.rename
    if sys.platform != "win32":
        move(src, dst)
        return
    deadline = time.monotonic() + RENAME_WAIT_S
    delay = 0.01
    while True:
        try:
            move(src, dst)
            return
        except PermissionError as e:
            if time.monotonic() >= deadline:
                raise PermissionError(
                    e.errno, f"{e.strerror or e}; another program (one reading the file, an "
                    f"antivirus scan, a sync tool) may hold it open: close it and try again",
                    e.filename, getattr(e, "winerror", None), e.filename2) from None
        time.sleep(delay)
        delay = min(2 * delay, 0.2)


def path_fault(path: str) -> str | None:
    """Why the text `path` can name no file, as the end of a sentence ('holds a NUL
    character…'), or None: a NUL character in it, or a leading ~USER that Path.expanduser
    cannot expand (a user this system does not know)."""
    # İşletim sistemi NUL karakterli bir yolu hiç almaz (Python "embedded null byte" der);
    # bilinmeyen bir kullanıcının ~adı ise Path.expanduser'da "Could not determine home
    # directory." hatasını verir. İkisi de hangi ayarın, hangi değerin yanlış olduğunu
    # söylemez: çağıran bu nedeni ayarın (ya da seçeneğin) adıyla ve verilen değerle birlikte
    # yazar. "./~ad" da aynı hatayı verir (Path baştaki "./"yu atar): bu yüzden öğüt, tam yolu
    # vermektir
    if "\0" in path:
        return "holds a NUL character (\\x00), which no path can"
    try:
        Path(path).expanduser()
    except RuntimeError:
        head = Path(path).parts[0]
        if head == "~":
            return "starts with ~, but this system knows no home folder (HOME is not set)"
        return (f"starts with {head}, the home folder of a user this system does not know "
                f"(for a file or folder named {head}, give its full path)")
    return None


def refuse_dangling_link(path, option: str) -> None:
    """Refuse an output folder that is, or goes through, a symbolic link to nothing (its target
    was deleted, or lives on a disk that is not mounted): name the link and where it points.
    `option` is how the message names the path: '--out', 'folder'…"""
    # mkdir böyle bir yolda yalnızca "File exists" der (sembolik bağ vardır, gösterdiği yer
    # yoktur). Bağın hedefini kendimiz oluşturmayız: takılı olmayan bir diskin bağlama noktası
    # gibi, kullanıcının beklemediği bir yere yazılırdı. Bu yüzden hiçbir şey yazılmadan
    # reddedilir.
    path = Path(path)
    for p in (path, *path.parents):
        if not p.is_symlink() or p.exists():
            continue
        try:
            os.stat(p)
            loop = False
        except OSError as e:
            loop = e.errno == errno.ELOOP
        target = os.path.realpath(p)
        if p == path:
            what = ("is a symbolic link that loops back on itself" if loop else
                    f"is a symbolic link to {target}, which does not exist")
        else:
            what = (f"goes through the symbolic link {p}, which loops back on itself" if loop
                    else f"goes through the symbolic link {p}, whose target {target} does "
                         f"not exist")
        fix = "remove the link" if loop else "create that folder first, or remove the link"
        raise ValueError(f"{option} {path} {what}; {fix} (nothing was written)")


def make_folder(path, what: str = "folder") -> Path:
    """Create a folder and its missing parents (mkdir -p), refusing first, with
    refuse_dangling_link's message, a path that is or goes through a link to nothing."""
    # Paketin klasör oluşturan her yeri (eğitim klasörü, denetim noktası, belirteçleyici,
    # Hugging Face kopyası, kurs sayfaları, resimler, derlem önbelleği) bu fonksiyonu kullanır:
    # hedefi olmayan bir sembolik bağ her yerde aynı açık iletiyle reddedilir; nedenini
    # söylemeyen "File exists" ya da "Not a directory" gibi bir işletim sistemi hatası çıkmaz
    path = Path(path)
    refuse_dangling_link(path, what)
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_new_folder(path, what: str = "folder") -> tuple[Path, bool]:
    """make_folder for a folder that a command fills and removes again when it fails.
    -> (top, created): the highest folder this call creates (`path` itself when no parent was
    missing, or when `path` was there before) and whether `path` was new. When mkdir -p stops
    half-way (disk full, no permission), the empty folders it made are removed and an OSError
    "could not write {what} {path} (why[: the folder that failed]); nothing was written" is
    raised."""
    # Eğitim (run_folder) ve kurs sayfaları (docs) klasörlerini bununla açar: başarısız bir
    # komut, yalnızca kendi açtığı en üstteki klasörü (top) siler; önceden var olana dokunmaz.
    # İleti de burada yazılır: iki komut ham "[Errno 28] …" yerine aynı açık iletiyi verir
    path = Path(path)
    top = top_new_folder(path)
    created = not path.exists()
    try:
        make_folder(path, what)
    except OSError as e:
        if created:
            remove_empty_folders(path, top)
        # açılamayan bir üst klasör adıyla söylenir
        where = f": {e.filename}" if e.filename and Path(e.filename) != path else ""
        raise OSError(f"could not write {what} {path} ({e.strerror or e}{where}); nothing was "
                      f"written") from None
    return top, created


def top_new_folder(path) -> Path:
    """The highest folder mkdir -p of `path` would create: `path` itself when its parent is
    there (or when `path` is there too)."""
    top = Path(path)
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    return top


def remove_empty_folders(path, top) -> None:
    """rmdir `path` (when it was made), then its parents up to and including `top`, while they
    are empty."""
    d, top = Path(path), Path(top)
    while True:
        try:
            d.rmdir()
        except FileNotFoundError:
            pass                    # mkdir -p durdu ve onu hiç açamadı: üstündekilere geçilir
        except OSError:
            return                  # boş değil (ya da silinemiyor): o ve üstü kalır
        if d == top or d.parent == d:
            return
        d = d.parent


def _file_behind(path: Path) -> Path:
    """The file a write to `path` replaces: `path` itself, or, where `path` is a symbolic link,
    the file the link leads to. A link to nothing (or one that loops) is refused, as
    refuse_dangling_link refuses a folder, and as `cp` refuses to write through it."""
    # os.replace geçici dosyayı bir bağın üzerine taşırken bağın kendisini siler ve yerine
    # sıradan bir dosya koyar: bağın gösterdiği dosya eski hâliyle kalır, bağ kaybolur. Çoğu
    # düzenleyici gibi biz de bağın içinden yazarız: hedef dosyanın gerçek yolu bulunur,
    # geçici dosya o dosyanın klasöründe açılır (aynı dosya sistemi: ad değişikliği atomik
    # kalır) ve bağ olduğu gibi kalır. Gösterdiği dosya olmayan bir bağ için hiçbir şey
    # yazılmaz: hedefi kendimiz oluştursaydık takılı olmayan bir diskin bağlama noktasına
    # yazabilirdik.
    if not path.is_symlink():
        return path
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(f"cannot write {path}: it is a symbolic link that loops back on "
                             f"itself; remove the link (nothing was written)") from None
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
        raise ValueError(f"cannot write {path}: it is a symbolic link to "
                         f"{os.path.realpath(path)}, which does not exist; create that file "
                         f"first, or remove the link (nothing was written)") from None
    return Path(os.path.realpath(path))


try:
    import fcntl
except ImportError:             # Windows: no flock (see remove_stale_temporaries)
    fcntl = None


def _stale_name(name: str) -> re.Pattern:
    """The names tempfile.mkstemp / mkdtemp give this module's temporary file or staging folder
    of a target called `name`: '.NAME.' + 8 random characters + '.tmp'."""
    return re.compile(re.escape("." + name + ".") + r"[a-z0-9_]{8}\.tmp")


# Bu modülün herhangi bir hedef için verdiği geçici adlar; grup 1 hedefin adıdır
_TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def _make_claimed(make: Callable[[], tuple[int | None, str]],
                  wait: bool = True) -> tuple[str, int | None]:
    """Create a temporary file or staging folder with `make()` -> (an fd open on it or None,
    its path) and lock it (flock) so that remove_stale_temporaries in another process leaves it
    alone. -> (its path, the fd to keep open until the write is over, or None where locks are
    not available). One that another process's clean-up removed before the lock was taken is
    made again. wait=False: where the lock is held (a second name of a file that another
    process holds too), it is not claimed."""
    # mkstemp dosyayı açar, kilit ancak ondan sonra alınır: aradaki mikrosaniyelerde aynı hedefi
    # yazan başka bir sürecin temizliği (remove_stale_temporaries) yeni dosyayı görebilir,
    # kilitsiz bulur ve siler: klasörü silinen bir yazma hatayla durur, dosyası silinen bir
    # yazma yeni dosyasını kilitsiz yazar. Temizlik bir artığı kilidini tutarken siler; bu yüzden
    # yazan kilidi bekleyerek alır ve ardından adın hâlâ durduğuna bakar: durmuyorsa temizlik
    # onu önce almış ve silmiştir, yenisi açılır. Kilit alındıktan sonra hiçbir temizlik ona
    # dokunmaz. Bekleme kısadır: başka bir süreç bu kilidi yalnızca bir silme süresince tutar
    # (adı yeni ve rastgeledir: onu yazan başka bir süreç yoktur).
    while True:
        fd, path = make()
        if fcntl is None:
            _close(fd)
            return path, None
        try:
            if fd is None:
                fd = os.open(path, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except FileNotFoundError:
            _close(fd)                  # removed before it was opened: made again
            continue
        except OSError:
            _close(fd)                  # no locks on this file system (or held): not claimed
            return path, None
        except BaseException:
            _close(fd)
            raise
        if os.path.lexists(path):
            return path, fd
        os.close(fd)                    # the clean-up took the lock first and removed it


def remove_stale_temporaries(target) -> None:
    """Delete the temporary files and staging folders an earlier write of `target` left next to
    it when it was killed (SIGKILL, a crash): only the names this module gives `target`'s
    (_stale_name), never a symbolic link, and none that a live process is writing (it holds a
    lock on it). Where locks are not available: on Windows, a temporary file is deleted unless
    a process holds it open (_remove_unless_open), staging folders are left; elsewhere nothing
    is deleted."""
    if fcntl is None and os.name != "nt":
        return
    target = Path(target)
    pattern = _stale_name(target.name)
    try:
        with os.scandir(target.parent) as it:     # closed also where listing fails midway
            entries = [e for e in it if pattern.fullmatch(e.name)]
    except OSError:
        return
    for e in entries:
        if fcntl is None:
            _remove_unless_open(e)
            continue
        try:
            if e.is_symlink():
                continue
            folder = e.is_dir(follow_symlinks=False)
            fd = os.open(e.path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0)
                         | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # kilit alındı: onu yazan süreç artık yok
            if folder:
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                os.unlink(e.path)
        except OSError:
            pass                    # kilitli (süren bir yazma) ya da silinemiyor: kalır
        finally:
            os.close(fd)


def _remove_unless_open(e: os.DirEntry) -> None:
    """Windows, without flock: delete the temporary file `e` unless a process holds it open
    (there os.unlink of an open file raises PermissionError); a link or a folder is left."""
    # Windows'ta Python dosyaları FILE_SHARE_DELETE olmadan açar: bir sürecin (bu sürecin de)
    # açık tuttuğu dosya silinemez, os.unlink PermissionError verir. Yazılmakta olan geçici
    # dosya böyle kalır; silinebilen, hiçbir sürecin açık tutmadığı bir artıktır. Klasörler
    # silinmez: dosyaları tek tek yazılıp kapatılır, yazılmakta olan bir klasörde her an açık
    # bir dosya bulunmaz (silme, süren bir yazmayı yarıda keserdi).
    try:
        if e.is_symlink() or e.is_dir(follow_symlinks=False):
            return
        os.unlink(e.path)
    except OSError:
        pass                        # açık (süren bir yazma), salt okunur ya da gitmiş: kalır


def remove_stale_staging_folders(folder) -> None:
    """remove_stale_temporaries for every target whose staging folder (atomic_write_files'
    '.NAME.XXXXXXXX.tmp' for a new folder NAME) is in `folder`: one a killed write left is
    deleted, one a live process is writing is left alone, and so is any other folder."""
    # Bir eğitim klasöründe başka bir sürecin de yazdığı geçici klasörler olabilir (eğitim
    # klasörüne save_hf ya da belirteçleyici kaydı): hangisinin öldürülmüş bir yazmanın
    # artığı olduğunu yalnızca kilit söyler
    _remove_stale_in(folder, folders_only=True)


def remove_stale_temporaries_in(folder) -> None:
    """remove_stale_temporaries for every target whose temporary file or staging folder (this
    module's '.NAME.XXXXXXXX.tmp', is_temporary_name) is in `folder`: what a killed write left
    is deleted, what a live process is still writing (locked) is left alone."""
    _remove_stale_in(folder, folders_only=False)


def is_temporary_name(name: str) -> bool:
    """Whether `name` has the form of this module's temporary files and staging folders."""
    return _TEMPORARY.fullmatch(name) is not None


def _remove_stale_in(folder, folders_only: bool) -> None:
    try:
        with os.scandir(folder) as it:
            names = {m.group(1) for e in it if (m := _TEMPORARY.fullmatch(e.name))
                     and (not folders_only or e.is_dir(follow_symlinks=False))}
    except OSError:
        return
    for name in sorted(names):
        remove_stale_temporaries(Path(folder) / name)


def _new_temporary(real: Path) -> tuple[str, int | None]:
    """A temporary file for a write of `real`, next to it, claimed (_make_claimed) after the
    stale ones of `real` are removed: -> (its path, the fd to close when the write is over, or
    None)."""
    remove_stale_temporaries(real)
    return _claimed_temporary(real.parent, real.name)


def _claimed_temporary(folder, name: str) -> tuple[str, int | None]:
    """A new temporary file of a target called `name` in `folder` (_stale_name), claimed:
    -> (its path, the fd to close when the write is over, or None)."""
    return _make_claimed(lambda: tempfile.mkstemp(dir=folder, prefix="." + name + ".",
                                                  suffix=".tmp"))


@contextlib.contextmanager
def temporary_beside(tmp):
    """A second temporary file for the target of `tmp` (the temporary file atomic_write gives
    its `write`), next to it, named and claimed as `tmp` is: one a killed process leaves is
    removed by the next write of that target (remove_stale_temporaries), one being written is
    left alone. -> its path; the file is removed when the block ends."""
    # Bir yazmanın ara dosyası (ör. encode_corpus'un derlem boyutundaki ham dosyası) da bu
    # modülün adını taşır: kendine özgü bir ad (".tokens.npy.xxxx.raw.tmp") hiçbir temizliğin
    # tanımadığı bir artık olurdu, kilidi de olmazdı
    tmp = Path(tmp)
    m = _TEMPORARY.fullmatch(tmp.name)
    if m is None:
        raise ValueError(f"{tmp} is not a temporary file of atomic_write")
    path, fd = _claimed_temporary(tmp.parent, m.group(1))
    try:
        yield path
    except BaseException:
        # Silinemeyen bir geçici dosya (Windows'ta hâlâ açık ya da eşlenmiş bir dosya) asıl
        # hatanın ya da Ctrl-C'nin yerine geçmez; kalan artığı bir sonraki yazma siler
        with contextlib.suppress(OSError):
            os.unlink(path)             # before the lock goes: no one else removes it meanwhile
        raise
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    finally:
        _close(fd)


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def atomic_write(path, write: Callable[[str], None]) -> Path:
    """Write a file atomically: `write(tmp)` fills a temporary file in the same folder, which
    is fsync'ed, given the mode a plain open() would give, and renamed over `path`.
    On any error (or Ctrl-C) the temporary file is removed and `path` is left as it was.
    Where `path` is a symbolic link, the file it leads to is written and the link kept."""
    path = Path(path)
    refuse_dangling_link(path.parent, f"cannot write {path}: folder")
    real = _file_behind(path)
    tmp, fd = _new_temporary(real)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())     # after write(): some writers recreate the file
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _rename(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):      # never in place of the error itself
            os.unlink(tmp)
        raise
    finally:
        _close(fd)
    return path


def release_frames(error: BaseException) -> None:
    """Clear the local names of the finished frames that `error`'s traceback (and those of the
    errors it was raised while handling) keeps, so that the arrays they held, memory maps above
    all, are freed before a clean-up deletes their files: Windows does not delete a file that
    is mapped. Elsewhere (a mapped file can be deleted there) nothing is cleared."""
    # Bir istisnanın izi, hatanın geçtiği her çerçeveyi yerel adlarıyla birlikte tutar: hata
    # yakalanıp temizlik yapılırken o çerçevelerdeki np.memmap dizileri (tokens.npy'nin
    # eşlemesi) hâlâ canlıdır. POSIX'te eşlenmiş bir dosya silinebilir, Windows'ta silinemez
    # (PermissionError). Hâlâ çalışan çerçevelere (temizliği yapanlar) dokunulmaz. Yalnızca
    # Windows'ta: başka yerde gerekmez, ve silinen yerel adlar bir hata ayıklayıcının (pdb.pm(),
    # %debug) ya da yerel adları gösteren bir izin (pytest -l) göstereceği bilgidir
    if os.name != "nt":
        return
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error = error.__context__


@contextlib.contextmanager
def signals_deferred():
    """A SIGINT or SIGTERM that comes while the body runs is held back and sent again, to the
    handlers found before, when the body ends: SIGTERM first where both came (the stronger
    request). Where the body raised and a held signal's handler raises too (KeyboardInterrupt,
    Terminated), the signal's exception is raised `from` the body's, so that the body's error
    (e.g. MixedFiles) is not lost: the command line prints both. Where the body raised and a
    held signal has its default action (SIGTERM outside the command line), the body's error is
    printed to stderr before that signal ends the process. Main thread only (where Python
    runs signal handlers); elsewhere the body runs as it is."""
    # Kısa ama yarıda kesilmemesi gereken işler içindir: yarıda kalan bir eğitimin klasörünün
    # temizliği (run_folder.hold_run_folder: ikinci bir Ctrl-C ya da SIGTERM onu yarıda
    # kesseydi klasör yarı silinmiş kalırdı, aynı komut --overwrite isterdi) ve birlikte anlam
    # taşıyan dosyaların art arda ad değişiklikleri (atomic_write_files). Sinyal kaybolmaz:
    # iş bitince yeniden gönderilir ve olağan etkisini gösterir (komut 130 ya da 143 ile
    # çıkar; varsayılan eylemde süreç biter).
    # İkisi de geldiyse önce SIGTERM gönderilir: işleyicisi bir istisna fırlatırsa (ya da
    # varsayılan eylemle süreç biterse) ikincisi hiç gönderilemez, kaybolan Ctrl-C olmalıdır
    # (SIGTERM'ün 143'ü, bir zamanlayıcının işi durdurduğunu söyler). İş bir hatayla bittiyse
    # (ör. MixedFiles: klasörde yeni ve eski dosyalar yan yana) sinyal yine gönderilir; onun
    # istisnası işin hatasına `from` ile bağlanır: komut satırı önce hatayı, sonra
    # "interrupted" der ve 130 (143) ile çıkar. İstisna fırlatmayan bir işleyici (eğitimin ilk
    # Ctrl-C'si gibi) yalnızca çağrılır, işin hatası olduğu gibi yükselir.
    # signal.pthread_sigmask yetmezdi: sinyali yalnızca çağıran iş parçacığında engeller;
    # sürece gönderilen sinyal, onu engellemeyen başka bir iş parçacığına (ör. NumPy'ın BLAS
    # iş parçacıklarından birine) yine de ulaşır ve Python işleyicisini ana iş parçacığında,
    # işin ortasında çalıştırır. Bu yüzden işleyiciler kısa süre için sinyali yalnızca not
    # eden bir işleyiciyle değiştirilir. İş kısadır (birkaç dosya silmek ya da adlandırmak);
    # SIGKILL yine her an durdurur.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not signal.SIG_IGN and handler is not None:  # None: C'den kurulmuş
            old[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    failed = None
    try:
        yield
    except BaseException as e:
        failed = e
        raise
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        try:
            for sig in sorted(set(held), key=lambda s: s != signal.SIGTERM):
                if old[sig] is signal.SIG_DFL and failed is not None and \
                        not isinstance(failed, SystemExit):
                    _report_before_ending(failed, sig)
                signal.raise_signal(sig)
        except BaseException as s:
            if failed is None or s is failed:
                raise
            raise s from failed
        finally:
            failed = None                   # no reference cycle through the frame


def _report_before_ending(error: BaseException, sig: int) -> None:
    """Print `error` (its traceback, as Python prints an uncaught one) to stderr, with a line
    saying that the held signal `sig` now ends the process by its default action."""
    # Varsayılan eylemli bir sinyal (paket Python'dan kullanılırken SIGTERM'ün olağan durumu)
    # yeniden gönderilince süreç olduğu yerde biter: işin hatası (ör. MixedFiles: hangi dosyanın
    # yeni, hangisinin eski olduğu) hiçbir yere yazılmadan kaybolurdu. Sinyal yine süreci
    # bitirir (ertelenen istek yerine getirilir), ama önce hata, Python'un yakalanmamış bir
    # hatayı yazdığı gibi yazılır
    out = sys.stderr
    if out is None:
        return
    try:
        traceback.print_exception(type(error), error, error.__traceback__, file=out)
        print(f"{signal.Signals(sig).name} came while this ran; its default action now ends "
              f"the process", file=out)
        out.flush()
    except (OSError, ValueError):
        pass                        # a closed stderr: the signal still ends the process


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, docker stop, a scheduler stopping the job, timeout) turned into an
    exception, so that a command stopped by it runs the clean-up a Ctrl-C runs (a half-built
    --out folder is removed, temporary files are deleted) and exits with 143 = 128 + SIGTERM,
    the status of a process the signal ends, after a `terminated` line."""
    exit_status = 143


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_raises():
    """While the body runs, SIGTERM raises Terminated instead of ending the process where it
    stands. Only in the main thread (where Python runs signal handlers) and where SIGTERM has
    its default action: a handler of the caller's is left alone, and so is SIG_IGN (a process
    started with SIGTERM ignored, as nohup-like launchers do, keeps ignoring it). The default
    action is put back afterwards."""
    # Ctrl-C (KeyboardInterrupt) her komutta temizlik yollarını çalıştırır: docs yarım kalan
    # yeni klasörünü, attention açtığı klasörleri, atomik yazmalar geçici dosyalarını siler.
    # SIGTERM'ün varsayılan eylemi ise süreci olduğu yerde bitirir: kill ile durdurulan bir
    # komut geride yarım bir klasör bırakırdı. Sinyal bu yüzden KeyboardInterrupt'ın bir alt
    # sınıfına (Terminated) çevrilir; aynı temizlik yolları çalışır (hepsi BaseException ya da
    # KeyboardInterrupt yakalar) ve komut 143 ile çıkar.
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def could_not_write(path, e: OSError, existed: bool) -> OSError:
    """The error for a failed atomic write of `path` (disk full, read-only file system, no
    permission): "could not write PATH (why); the earlier file is kept" (or "nothing was
    written" where `path` was not there before)."""
    # Yazma sırasında çıkan OSError (ör. "[Errno 28] No space left on device") ya hiçbir
    # dosya adı vermez ya da geçici dosyanın adını verir: ileti hedefin adını ve yerinde ne
    # kaldığını söyler. Sorun başka bir yoldaysa (açılamayan bir üst klasör) o da eklenir.
    path = Path(path)
    name = os.fsdecode(e.filename) if e.filename else ""
    temp = Path(name).name.startswith("." + path.name + ".") and name.endswith(".tmp")
    where = f": {name}" if name and not temp and Path(name) != path else ""
    kept = "the earlier file is kept" if existed else "nothing was written"
    return OSError(f"could not write {path} ({e.strerror or e}{where}); {kept}")


class JSONNestedTooDeep(json.JSONDecodeError):
    """JSON whose arrays or objects nest deeper than the parser's recursion limit ("[[[[…")."""

    def __init__(self, doc):
        super().__init__("values nested too deeply to read", doc if isinstance(doc, str) else "",
                         0)
        self.args = (self.msg,)         # no "line 1 column 1": the nesting may start anywhere

    def __reduce__(self):
        return type(self), (self.doc,)


def load_json(doc, **kw):
    """json.loads(doc, **kw), raising JSONNestedTooDeep (a json.JSONDecodeError) where the
    values nest too deeply for the parser, as malformed JSON is reported."""
    # Binlerce iç içe liste ("[[[[…", bozuk ya da elle düzenlenmiş bir dosya) ayrıştırıcının
    # özyineleme sınırını aşar ve json.loads RecursionError verir: JSONDecodeError bekleyen her
    # okuyucunun yanından geçer, ileti de hangi dosyanın bozuk olduğunu söylemezdi. Paketin JSON
    # okuyucuları bu yoldan okur: derin bir dosya, bozuk bir JSON ile aynı yoldan bildirilir
    # (ayar dosyası RecursionError'ı kendisi yakalar: TOML ayrıştırıcısı da onu verir)
    try:
        return json.loads(doc, **kw)
    except RecursionError:
        raise JSONNestedTooDeep(doc) from None


def bytes_writer(data: bytes) -> Callable[[str], None]:
    """A `write(tmp)` for atomic_write / atomic_write_files that writes `data` as it is."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    return write


def atomic_write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, bytes_writer(data))


def text_writer(text: str) -> Callable[[str], None]:
    """A `write(tmp)` for atomic_write / atomic_write_files: UTF-8 text, '\\n' line ends."""
    return bytes_writer(text.encode("utf-8"))


def atomic_write_text(path, text: str) -> Path:
    """UTF-8 text with '\\n' line ends on every platform."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_files(folder, writers: dict[str, Callable[[str], None]]) -> Path:
    """Write several files of one folder as a unit: `writers` maps each file name to a
    `write(tmp)` that fills a temporary file.

    A folder that does not exist yet is built under a hidden temporary name next to it and
    renamed into place at once, so it appears with all its files or not at all. In an existing
    folder every temporary file is written and fsync'ed first, and only then are they renamed
    over their targets, one right after the other; on any error (or Ctrl-C) before that point
    all old files are left as they were and no temporary file remains. A Ctrl-C or SIGTERM
    during the renames takes effect once they are done; a rename that fails puts the old
    versions of the files already replaced back, or, where it cannot, raises MixedFiles, which
    names the new and the old ones."""
    folder = Path(folder)
    refuse_dangling_link(folder, "folder")
    if not folder.exists():
        make_folder(folder.parent)
        # Öldürülmüş önceki bir yazmanın yarım kalmış geçici klasörü varsa önce o silinir
        remove_stale_temporaries(folder)
        # Klasör yok: geçici bir klasörde kurulur, tek bir ad değişikliğiyle ortaya çıkar
        staging, fd = _make_claimed(lambda: (None, tempfile.mkdtemp(
            dir=folder.parent, prefix="." + folder.name + ".", suffix=".tmp")))
        staging = Path(staging)
        try:
            for name, write in writers.items():
                tmp = staging / name
                write(str(tmp))
                os.chmod(tmp, 0o666 & ~_umask())
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            os.chmod(staging, 0o777 & ~_umask())      # mkdtemp'in 0700'ü yerine mkdir() kipi
            fsync_dir(staging)
            _rename(staging, folder, replace=False)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            _close(fd)
        fsync_dir(folder.parent)
        return folder
    # Klasör var: önce bütün geçici dosyalar hazırlanır, ad değişiklikleri en sonda art arda.
    # Bağ olan bir dosyanın geçici dosyası, bağın gösterdiği dosyanın yanında açılır.
    reals = {name: _file_behind(folder / name) for name in writers}
    temps: dict[str, str] = {}
    fds = []
    try:
        for name, write in writers.items():
            real = reals[name]
            tmp, fd = _new_temporary(real)
            fds.append(fd)
            temps[name] = tmp
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        # Ad değişiklikleri sırasında gelen bir Ctrl-C ya da SIGTERM, ikisinin arasına düşüp
        # yeni ağırlıkları eski config.json'ın yanında bırakırdı: sinyal, hepsi (ya da geri
        # alma) bitince etkisini gösterir
        with signals_deferred():
            _replace_all(folder, temps, reals)
    except BaseException:
        for tmp in temps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    finally:
        for fd in fds:
            _close(fd)
    for d in {folder, *(r.parent for r in reals.values())}:
        fsync_dir(d)
    return folder


class MixedFiles(OSError):
    """atomic_write_files into an existing folder failed half-way through its renames and the
    old versions of the files already replaced could not be put back: `new` names the files
    that hold the new version, `old` those that still hold the old one (or do not exist)."""

    def __init__(self, folder, cause: OSError, new: list, old: list):
        self.folder, self.new, self.old = Path(folder), new, old
        self.reason = cause.strerror or str(cause)
        super().__init__(cause.errno, f"{self.reason}; {self.which()} in {self.folder}")

    def which(self) -> str:
        """'model.safetensors is new, config.json is still the old one' (for messages)."""
        def files(names):
            return ", ".join(names) + (" is" if len(names) == 1 else " are")
        return f"{files(self.new)} new, {files(self.old)} still the old " \
               f"{'one' if len(self.old) == 1 else 'ones'}"


def _backup_name(real: Path) -> Path:
    """A free name of the form of this module's temporary files for `real` (so that what a
    killed process leaves is removed by remove_stale_temporaries)."""
    while True:
        name = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _ in range(8))
        p = real.parent / f".{real.name}.{name}.tmp"
        if not os.path.lexists(p):
            return p


def _replace_all(folder: Path, temps: dict, reals: dict) -> None:
    """Rename every temporary file over its target. When a rename fails, the files already
    replaced get their old version back (kept meanwhile under a second name: a hard link, no
    copy), so the error leaves all old files; MixedFiles where that is not possible."""
    # Geri alma: os.replace eski dosyanın adını yenisine verir, eskisinin içeriği gider. Bu
    # yüzden önce her eski dosyaya ikinci bir ad (sabit bağ: kopya değil, aynı dosya) verilir;
    # bir ad değişikliği başarısız olursa değiştirilmiş olanlar bu adlardan geri konur. Sabit
    # bağ kurulamayan bir dosya sisteminde (ya da geri koyma da başarısız olursa) hata hangi
    # dosyaların yeni, hangilerinin eski olduğunu söyler (MixedFiles).
    backups, locks = {}, []
    existed = {name for name, real in reals.items() if os.path.lexists(real)}
    try:
        for name, real in reals.items():
            if name not in existed:
                continue
            def link(real=real):
                b = _backup_name(real)
                os.link(real, b)
                return None, str(b)
            try:                              # remove_stale_temporaries of others: keep out
                b, fd = _make_claimed(link, wait=False)
            except OSError:
                continue
            backups[name] = Path(b)
            if fd is not None:                # (an open file could not be replaced on Windows:
                locks.append(fd)              # without fcntl, none is opened)
        done = []
        try:
            for name, tmp in temps.items():
                _rename(tmp, reals[name])
                done.append(name)
        except OSError as e:
            if not done:
                raise
            failed = []
            for name in reversed(done):
                try:
                    if name in backups:
                        _rename(backups[name], reals[name])
                        del backups[name]             # (a failed put-back is unlinked below)
                    elif name not in existed:
                        os.unlink(reals[name])        # it was not there before
                    else:
                        failed.append(name)           # no second name: the old one is gone
                except OSError:
                    failed.append(name)
            if failed:
                raise MixedFiles(folder, e, sorted(failed),
                                 [n for n in temps if n not in failed]) from None
            raise
    finally:
        for fd in locks:
            os.close(fd)
        for b in backups.values():
            try:
                os.unlink(b)
            except OSError:
                pass
