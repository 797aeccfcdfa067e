"""
# Bayt düzeyinde BPE (Byte Pair Encoding) belirteçleyici

## Neden karakter düzeyi yetmez?
Karakter düzeyinde bir belirteçleyicide (tokenizer) her harf bir **belirteç** (token) olur.
Sözlük (vocabulary) küçüktür ve hiçbir metin "bilinmeyen" kalmaz; ama model her adımda yalnızca
bir harf görür. Türkçe bitişken (eklemeli) bir dildir: `evlerimizden`, `gidemeyeceklermiş`,
`Çekoslovakyalılaştıramadıklarımızdan` gibi sözcükler bir kökün ardına eklenen uzun ek
zincirleridir. Karakter düzeyinde `evlerimizden` tek başına 12 belirteç tutar. Modelin bağlam
penceresi (block_size) belirteç sayısıyla ölçüldüğü için, aynı pencereye sığan *anlam* azalır;
model `-ler`, `-imiz`, `-den` gibi sık parçaları her seferinde harf harf yeniden kurmak zorunda
kalır. BPE ise sık geçen harf dizilerini tek belirteçte toplar: `ev` + `lerimiz` + `den` gibi.
Aynı metin daha az belirteçle ifade edilir (bkz. benchmarks/RESULTS.md: belirteç başına
karakter sayısı), böylece aynı bağlam penceresi daha uzun bir metni kapsar.

## Karakter değil, bayt
Unicode'da 150 binin üzerinde karakter tanımlıdır (Türkçe harfler, Çince, emoji ...).
Hepsini başlangıç sözlüğüne koymak imkânsızdır; koymazsak da bilinmeyen karakterler `<unk>`
olur ve bilgi kaybolur.
Bayt düzeyinde BPE metni önce **UTF-8 baytlarına** çevirir: her metin 256 farklı bayttan oluşan
bir dizidir. Başlangıç sözlüğü tam bu 256 bayttır; bu yüzden *her* metin kayıpsız kodlanabilir.
`ş` iki bayttır (`0xC5 0x9F`), bir emoji dört bayt; metinde sık geçen çok baytlı karakterler
eğitim sırasında kendiliğinden tek belirtece birleşir.

## Bayttan Unicode'a eşleme (byte-to-unicode) neden var?
GPT-2'nin `vocab.json` ve `merges.txt` dosyaları metin dosyalarıdır; belirteçler bu dosyalarda
*dize* olarak yazılır. Oysa bir belirteç rastgele bir bayt dizisidir ve tek başına geçerli UTF-8
olmayabilir (ör. `ş`'nin yalnızca ilk baytı). Ayrıca boşluk, satır sonu ve denetim baytları
(`0x00`–`0x20`) dosyada görünmez ya da `merges.txt`'teki "sol sağ" ayıracıyla (boşluk) karışır.
GPT-2 bu yüzden her bayta *görünür* bir Unicode karakteri atar: yazdırılabilir ASCII ve Latin-1
baytları kendileri olarak kalır (`a` → `a`), geri kalan 68 bayt ise 256'dan başlayan kod
noktalarına kaydırılır. Örneğin boşluk (`0x20`) → `Ġ`, satır sonu (`0x0A`) → `Ċ`. Böylece
` evler` belirteci dosyada `Ġevler` olarak görünür. Bu eşleme yalnızca *dosya biçimi* içindir;
belirteçleyicinin içinde her belirteç bir `bytes` dizisidir. Biz de aynı eşlemeyi ve aynı kimlik
(id) sırasını kullandığımız için dosyalarımız Hugging Face `transformers` / `tokenizers`
kütüphaneleriyle birebir uyumludur.

## Ön belirteçleme (pre-tokenization)
Birleştirmeler sözcük sınırlarını aşmasın diye metin önce GPT-2'nin düzenli ifadesiyle (regex)
parçalara bölünür: harf dizileri (başlarındaki tek boşlukla birlikte: ` evler`), sayı dizileri,
noktalama dizileri, boşluklar ve İngilizcedeki `'s`, `'re` gibi kısaltmalar. `\\p{L}` her dildeki
harfi kapsar, yani `ç ğ ı İ ö ş ü` de harftir. Bu ifade `\\p{...}` sınıflarını kullandığı için
Python'un standart `re` modülü yerine `regex` paketi gerekir (`pip install -e ".[bpe]"`).

GPT-2'nin ifadesi İngilizce için yazılmıştır: kesme işaretinden sonraki `s t re ve m ll d`
harflerini kısaltma sayar. Türkçede kesme işareti özel adı ekinden ayırır (`Ankara'da`,
`Türkler'den`, `Tom'un`) ve bu kural eki ortasından böler: `Ankara'da` → ` Ankara` + `'d` + `a`,
`Gönen'de` → ` Gönen` + `'d` + `e`. Oysa `'da`, `'de`, `'den` hep aynı ektir; bölündüğünde sözlük
bu eki tek parça olarak öğrenemez (`--data seyfettin` ile okunan Ömer Seyfettin derleminde kesme
işaretli 689 sözcüğün 134'ü böyle bölünür). `TURKISH_PATTERN` kısaltma kuralının yerine tek bir
kural koyar: kesme işareti (`'` ya da tipografik `’`), ardından gelen harflerle birlikte tek
parçadır (` Ankara` + `'da`, ` Türkler` + `'den`). İngilizcede de `don't` yine ` don` + `'t` olur.
Eğitimde `bpe_pattern=turkish` ile seçilir; seçilen ifade `tokenizer_meta.json`'a yazılır, bu
yüzden kaydedilen belirteçleyici aynı bölmeyi her zaman yeniden üretir.

## Birleşik ve ayrışık biçim (NFC/NFD), birleştirici işaretler
Unicode'da `ş` iki biçimde yazılabilir: **birleşik biçimde** (NFC) tek bir kod noktasıdır
(U+015F), **ayrışık biçimde** (NFD) ise `s` ve ardından gelen bir **birleştirici işarettir**
(U+0327, birleştirici çengel). İkisi ekranda aynı görünür; macOS'un dosya adlarından ve bazı
kopyala-yapıştır işlemlerinden gelen metin ayrışık biçimde olabilir. Ayrışık biçimde
`ç ğ ö ş ü Ç Ğ İ Ö Ş Ü` ikişer kod noktasıdır (`ı` ve `I` ise her iki biçimde de tek).
Birleştirici işaretler Unicode'da harf (`\\p{L}`) değil, ayrı bir sınıftır (`\\p{M}`). Harf
dizisini yalnızca `\\p{L}+` diye tanımlayan bir ifade (GPT-2'ninki ve bu ifadenin eski hâli)
ayrışık yazılmış bir sözcüğü her işaretin önünden keser; işaret ya tek başına bir parça olur ya
da ardından gelen noktalamaya katılır. Eski ifadeyle: `Şeker'den` → `S` + `(U+0327)` + `eker` +
`'den`; ` şöyle.` → ` s` + `(U+0327)` + `o` + `(U+0308)` + `yle` + `.`; ` iş:` → ` is` +
`(U+0327):` (GPT-2'ninki, İngilizce kısaltma kuralı yüzünden, `'den` ekini de `'d` + `en` diye
böler). Bu parçalar sözcüğün birleşik biçimdeki parçalarıyla örtüşmez. `TURKISH_PATTERN` bu
yüzden harf dizilerini (kesme işaretinden sonrakiler dahil) `[\\p{L}\\p{M}]+` diye yazar:
işaret, ardından geldiği harfle aynı parçada kalır ve ayrışık bir metin, birleşik biçimdeki
karşılığıyla aynı yerlerden bölünür (`Şeker` + `'den`, ` şöyle` + `.`).
Noktalama ve simge sınıfı işaretle başlamaz: bu sınıftaki her karakter yalnızca *kendi*
ardındaki işaretleri alır, `(?:[^\\s\\p{L}\\p{M}\\p{N}]\\p{M}*)+`. Böylece bir harfin işareti
noktalamaya katılmaz, bir simgenin işareti de simgesinden ayrılmaz: emojilerin ardındaki U+FE0F
(variation selector, emojinin renkli çizimini seçer) de Unicode'da birleştirici işarettir ve
`❤️` (U+2764 + U+FE0F) eskisi gibi tek parça kalır; ayrışık biçimde yazılmış `≠` (`=` + U+0338)
da öyle. Rakamlar da kendi işaretlerini alır, `(?:\\p{N}\\p{M}*)+`: bir tuş başlığı emojisi
(keycap: `2` + U+FE0F + U+20E3) tek parçadır, ardından gelen harfler ayrı bir parça olur (keycap
ve `x` yan yana yazılınca keycap bir parça, `x` bir parça). Rakam kuralının işaretleri tanımayan
eski hâlinde `2` ayrı kalıyor, iki işaret de harf dizisi kuralıyla ardlarındaki harfe yapışıyordu
(`2` | U+FE0F + U+20E3 + `x`). Metnin başında ya da bir boşluktan sonra tek başına kalmış bir
işaret harf dizisi kuralına düşer: her karakter yine bir parçaya girer, hiçbir bayt kaybolmaz.

Birleştirici işaret içermeyen bir metinde yeni ifade eskisiyle birebir aynı bölmeyi yapar (Ömer
Seyfettin derleminde tek bir işaret bile yoktur; `--data seyfettin` metninde iki ifade aynı
66 912 parçayı verir). Birleşik biçimde bile işaret taşıyan metinler vardır: önceden
birleştirilmiş bir karşılığı olmayan `x̂` (`x` + U+0302) ya da Python'un `"İstanbul".lower()`
sonucu `i̇stanbul` (`i` + U+0307) gibi; bunlar da artık harfleriyle bir arada kalır. İşaretleri
tanımayan eski ifadeyle kaydedilmiş belirteçleyiciler etkilenmez: `tokenizer_meta.json`'larında
eski dize yazılıdır ve `load` onu kullanır; aynı parçaları, aynı kimlikleri üretmeye devam
ederler.

## Neden normalleştirme yok?
Karakter belirteçleyicisi metni NFC'ye çevirir (`tokenizers/char.py`); bayt düzeyinde BPE ise,
GPT-2 ve tiktoken gibi, metne **hiç dokunmaz**. Bayt düzeyinde BPE'nin güvencesi
kayıpsızlıktır: her metin için `decode(encode(t)) == t`. Kodlamadan önce NFC'ye çevirseydik
ayrışık bir metin geri birleşik biçimde dönerdi: ekranda aynı, baytları farklı bir metin (bir
dosyanın özeti, bir dosya adı, bir kod parçası değişirdi). Bunun bedeli de açıktır: birleşik
biçimdeki (NFC) bir metinle eğitilmiş modele ayrışık biçimde (NFD) yazılmış bir istem (prompt)
verilirse, istem **daha çok ve daha küçük belirteçlere** bölünür. U+0327'nin UTF-8 baytlarından
`0xCC` eğitim metninde hiç geçmez (`0xA7` ise yalnızca `ç` = `0xC3 0xA7` gibi başka
karakterlerin ikinci baytı olarak geçer), bu yüzden işaret hiçbir birleştirmeye girmez:
` şeker`, birleşik biçimdeki belirteçleri yerine ` s`, tek baytlık iki belirteç ve `eker`'in
parçaları olarak kodlanır (Ömer Seyfettin derleminde eğitilmiş 1024'lük bir sözlükte
`Şeker'den iş çıkmış: güzelliğiniz şöyle.` birleşik biçimde 16, ayrışık biçimde 38
belirteçtir). Model bu belirteç dizilerini eğitimde görmemiştir; istemin devamını daha kötü
tahmin eder.
`TURKISH_PATTERN` yalnızca parça sınırlarını düzeltir, parçaların baytlarını değiştirmez. İstemin
birleşik biçimde olması isteniyorsa kodlamadan önce çağıran kendisi çevirir:
`unicodedata.normalize("NFC", metin)`.

## Eğitim döngüsü
1. Metni ön belirteçle, her farklı parçayı ("sözcük") kaç kez geçtiğiyle birlikte say.
   Projenin 400 KB'lık Türkçe derleminde (Ömer Seyfettin) yaklaşık 67 bin parça çıkar, ama
   bunların yalnızca 17 700 kadarı birbirinden farklıdır; bütün hesap bu farklı sözcükler
   üzerinden, sıklıklarıyla ağırlıklandırılarak yapılır.
2. Her sözcüğü bayt belirteçlerinin dizisi olarak yaz.
3. Bütün sözcüklerdeki yan yana belirteç çiftlerini say (sözcüğün sıklığı kadar).
4. En sık geçen çifti `(a, b)` seç, yeni bir belirteç `ab` oluştur, bu birleştirmeyi (merge)
   listeye ekle ve her sözcükte `a b` geçen yerleri `ab` ile değiştir.
5. Sözlük istenen boyuta ulaşana kadar 3–4'ü tekrarla.

Eşitlikte (aynı sayıda geçen çiftler) kimlikleri küçük olan çift seçilir; sonuç böylece
belirlenimlidir (deterministic).

## Artımlı sayım güncellemesi
Her birleştirmeden sonra bütün metni yeniden saymak, `birleştirme sayısı × metin boyu` kadar iş
demektir: 4096'lık bir sözlük Türkçe derlemde bu yolla yaklaşık 6 dakika sürer (ilk 100
birleştirme 9,9 s), artımlı yolla ise toplam birkaç saniye. Oysa `(a, b)` birleştirmesi yalnızca
içinde `a b` geçen sözcükleri değiştirir. Bu yüzden:
- her çift için hangi sözcüklerde geçtiğini tutan bir dizin (`where`) saklarız;
- birleştirmede yalnızca bu sözcükleri yeniden yazar, eski çiftlerinin sayısını düşer, yeni
  çiftlerinin sayısını ekleriz;
- en sık çifti bulmak için bir **yığın** (heap, öncelik kuyruğu) kullanırız. Sayısı değişen her
  çift yığına güncel sayısıyla yeniden itilir; yığından çıkan bir kaydın sayısı güncel sayıyla
  uyuşmuyorsa o kayıt bayattır ve atlanır ("tembel silme").
Böylece bir birleştirmenin maliyeti metnin boyuyla değil, etkilenen sözcüklerin toplam
uzunluğuyla orantılı olur.

## Kodlama: birleştirme sırasına göre
Yeni bir metni kodlarken eğitimdeki birleştirmeler *öğrenildikleri sırayla* (rank) uygulanır:
her sözcük baytlarına ayrılır, yan yana çiftler arasında sırası en küçük (en erken öğrenilmiş)
birleştirme bulunur ve uygulanır; uygulanabilecek birleştirme kalmayınca durulur. Eşit sırada
en soldaki çift önce birleşir (Hugging Face `tokenizers` ile aynı kural). Aynı sözcük metinde
defalarca geçtiği için sonuçlar bir sözcük önbelleğinde (cache) saklanır.

Çözme (decode) kolaydır: kimliklerin baytları uç uca eklenir ve UTF-8 olarak okunur. Model
geçersiz bir bayt dizisi üretirse (ör. bir `ş`'nin yalnızca ilk baytı) o kısım `�` (U+FFFD)
olur; Hugging Face de böyle yapar. Tersine, geçerli Unicode olmayan bir dize (eşi olmayan
vekil/surrogate karakter, ör. `"\\ud800"`) UTF-8'e çevrilemez; bu durumda açık bir hata verilir.

## Özel belirteçler
`<|endoftext|>` gibi özel belirteçler metinden öğrenilmez; sözlüğün sonuna eklenir ve her zaman
tek bir kimliğe kodlanır. Kodlamada metin önce özel belirteçlerin geçtiği yerlerden bölünür,
aradaki parçalar normal yoldan kodlanır. `allowed_special="none"` ile özel belirteç metni sıradan
metin gibi kodlanır (kullanıcı girdisinde istenmeyen özel belirteçlere karşı). Okunan bir
dosyada özel (sonradan eklenmiş) bir belirteç aynı zamanda bir bayt belirteciyse ya da
birleştirmelerde geçiyorsa (ör. sözlükte zaten olan bir sözcük sonradan eklenmişse) iki rolü
birden taşır: metinde bütün olarak aranır, BPE de onu üretebilir.

## Dosyalar
`save(dizin)`: `vocab.json` (belirteç dizesi → kimlik), `merges.txt` (`#version: 0.2` başlığı,
her satırda bir birleştirme, öğrenilme sırasıyla) ve `tokenizer_meta.json` (tür, özel
belirteçler, ön belirteçleme ifadesi). İlk ikisi GPT-2 biçimindedir; gerçek bir GPT-2
klasörünü `BPETokenizer.from_files(...)` ile okuyabiliriz. Üç dosya birlikte yazılır
(`atomic.atomic_write_files`): önce hepsi geçici dosyalara yazılır, ancak hepsi hazır olunca art
arda yerine konur; yarıda kesilen bir kayıt eski üç dosyayı bozmaz.

Testler: `tests/test_bpe.py`. Ölçümler: `benchmarks/bpe_bench.py`.
"""
from __future__ import annotations

import heapq
import json
import numbers
import operator
import os
import re
import warnings
from collections import Counter
from typing import Iterable

from ..atomic import atomic_write_files, load_json, text_writer
from ..backend import is_unicode, progress_bar, shown

__all__ = ["BPETokenizer", "GPT2_PATTERN", "PATTERNS", "TURKISH_PATTERN",
           "bytes_to_unicode"]

# GPT-2'nin ön belirteçleme ifadesi (OpenAI'ın encoder.py dosyasındaki ve Hugging Face
# ByteLevel ön belirteçleyicisindeki ifadenin aynısı).
GPT2_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""
                r"""|\s+(?!\S)|\s+""")
# Türkçe için: kesme işareti (düz ya da tipografik) ardındaki harflerle tek parça; İngilizce
# kısaltma kuralları yok. Birleştirici işaretler (\p{M}) ardından geldikleri karakterle kalır:
# harf dizileri `[\p{L}\p{M}]+` (ayrışık biçimde, NFD, yazılmış `ş` = `s` + U+0327 sözcüğün
# ortasından kesilmez); noktalama/simge sınıfı işaretle başlamaz, her karakteri kendi ardındaki
# işaretleri alır (`❤️` = U+2764 + U+FE0F bölünmez). Rakamlar da kendi işaretlerini alır,
# `(?:\p{N}\p{M}*)+`: rakam + U+FE0F + U+20E3 (tuş başlığı emojisi) tek parçadır ve
# ardından gelen harfler ayrı bir parça olur. Tek başına kalmış bir işaret (metnin başında ya da
# bir boşluktan sonra) harf dizisi kuralına düşer; her karakter yine bir parçaya girer. Geri
# kalanı GPT2_PATTERN'in aynısı; yukarıdaki açıklamaya bakın. Eski hâlleriyle (işaretleri hiç
# tanımayan `\p{L}+`, `[^\s\p{L}\p{N}]+`; rakamın işaretlerini almayan `\p{N}+`) kaydedilmiş
# belirteçleyiciler tokenizer_meta.json'daki kendi ifadeleriyle yüklenir ve kodlar.
TURKISH_PATTERN = (r"""['’][\p{L}\p{M}]+| ?[\p{L}\p{M}]+| ?(?:\p{N}\p{M}*)+"""
                   r"""| ?(?:[^\s\p{L}\p{M}\p{N}]\p{M}*)+|\s+(?!\S)|\s+""")
PATTERNS = {"gpt2": GPT2_PATTERN, "turkish": TURKISH_PATTERN}

META_FILE = "tokenizer_meta.json"
VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
_CACHE_LIMIT = 1 << 17       # words kept in the encode cache before it is cleared
_SHORT_WORD = 64             # longer words (in bytes) use the O(n log n) merge loop
_NO_RANK = 1 << 62
# vocab.json'da bu sınırın üstündeki bir kimlik bozuk bir dosya demektir (GPT-2: 50 257)
_MAX_ID = 1 << 24


def resolve_pattern(pattern) -> str:
    """The pre-tokenisation regex of `pattern`: a name of PATTERNS ('gpt2', 'turkish') or a
    regex string."""
    # Eğitim ayarında ifade adıyla seçilir (`bpe_pattern=turkish`); aynı ad Python'dan
    # verildiğinde düz bir ifade sayılsaydı yalnızca "turkish" sözcüğünü bulurdu ve geri kalan
    # bütün metin kodlamada sessizce düşerdi
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a regex string or one of "
                        f"{', '.join(map(repr, PATTERNS))}, got {type(pattern).__name__}")
    return PATTERNS.get(pattern, pattern)


def _check_covers(pat, chunk: str, words: list, encoding: bool = False) -> None:
    """ValueError when the pattern's matches leave characters of `chunk` out (encode, which
    keeps only the matches, would drop them); `encoding`: the message for encode, else for
    train."""
    # findall yalnızca eşleşmeleri verir: aralarında kalan metin hiçbir belirtece girmez.
    # Eşleşmeler örtüşmediğinden uzunlukları toplamı metnin uzunluğuna eşitse hiçbir karakter
    # dışarıda kalmamıştır (ucuz denetim; ayrıntı yalnızca hata yolunda aranır)
    if sum(map(len, words)) == len(chunk):
        return
    pos = 0
    for m in pat.finditer(chunk):
        if m.start() > pos:
            break
        pos = m.end()
    if not encoding:
        raise ValueError(
            f"the pre-tokenisation pattern does not cover the text: {chunk[pos]!r} at index "
            f"{pos} (of this part of the text) is outside every match, and encode would drop "
            f"it; use GPT2_PATTERN or TURKISH_PATTERN (or their names "
            f"{', '.join(map(repr, PATTERNS))}), or a pattern that matches every character")
    # Konum yerine çevresi gösterilir: encode_corpus uzun bir metni parça parça kodlar, bir
    # parçadaki konum bütün metindeki konum değildir
    around = chunk[max(0, pos - 20):pos + 20]
    raise ValueError(
        f"this tokenizer's pre-tokenisation pattern (its .pattern) does not cover the text: "
        f"{chunk[pos]!r} (in {around!r}) is outside every match and would be left out of the "
        f"ids; encode only text the pattern covers, or use a tokenizer whose pattern matches "
        f"every character (GPT2_PATTERN, TURKISH_PATTERN)")


# Eğitimde sözcükler parça parça sayılır: bütün metnin `findall` listesi (sözcük başına ~60 bayt,
# 100 MB'lık bir metinde 1,5 GB'tan çok) hiç kurulmaz; bellekte bir parçanınki ve farklı
# sözcüklerin sayacı kalır. Kesim, boşluk olmayan bir karakterle onu izleyen bir boşluk
# karakterinin arasına yapılır: hazır ifadelerin (GPT2_PATTERN, TURKISH_PATTERN) hiçbir
# eşleşmesi boşluk olmayan bir karakterden sonra boşluk içermez (baştaki ` ?` boşluğu
# eşleşmenin başındadır); bu yüzden bütün metnin eşleşmelerinden biri tam orada biter ve
# parçaların sözcükleri, sırası da dahil, bütün metninkilerle aynıdır (geriye bakan bir ifade
# yoktur, ileriye bakan `(?!\S)` da parçanın içinde kalır: parça boşlukla bitmez). Kullanıcının
# kendi ifadesinde bu güvence yoktur: o bütün metinde çalıştırılır
_TRAIN_PIECE = 1 << 20               # characters per piece (about; cut at the next safe place)


def _pieces(text: str, size: int):
    """Consecutive pieces of `text` of about `size` characters, each cut between a
    non-whitespace character and the whitespace after it (or at the end of the text)."""
    import regex
    cut = regex.compile(r"\S(?=\s)")
    start, n = 0, len(text)
    while start < n:
        m = cut.search(text, start + size - 1) if start + size < n else None
        end = m.end() if m else n
        yield text[start:end]
        start = end


def _compile(pattern: str):
    """Compile a pre-tokenisation pattern with the `regex` package (lazy import)."""
    try:
        import regex
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the BPE tokenizer needs the 'regex' package for GPT-2's pre-tokenisation: "
            'pip install regex (in a source checkout: pip install -e ".[bpe]")') from e
    try:
        pat = regex.compile(pattern)
    except regex.error as e:
        raise ValueError(f"invalid pre-tokenisation pattern {pattern!r}: {e}") from e
    except RecursionError:
        # Yüzlerce iç içe grup ("((((…", bozuk ya da elle düzenlenmiş bir tokenizer_meta.json)
        # regex'in ayrıştırıcısının özyineleme sınırını aşar: Python'un "maximum recursion depth
        # exceeded" iletisi hangi ifadenin, hangi dosyanın suçu olduğunu söylemezdi
        raise ValueError(f"invalid pre-tokenisation pattern {shown(pattern)}: its groups nest "
                         f"too deeply") from None
    # findall, yakalayan grupları olan bir ifadede eşleşmeleri değil grupları verir: tek grupta
    # eşleşmenin grup dışındaki kısmı düşer (kapsama denetimi bir IndexError'la düşüyordu), iki
    # ve daha çok grupta sözcük yerine demetler gelir ("'tuple' object has no attribute
    # 'encode'"). Gruplar (?:...) biçiminde yazılmalı
    if pat.groups:
        raise ValueError(f"the pre-tokenisation pattern {pattern!r} has capturing groups, so "
                         f"findall would give their text instead of the whole matches: write "
                         f"its groups as (?:...)")
    return pat


# GPT-2'nin bayt → Unicode eşlemesi. `bs`: kendileri olarak kalan "görünür" baytlar
# (`!`..`~`, `¡`..`¬`, `®`..`ÿ`); geri kalan 68 bayt sırayla 256, 257, ... kod noktalarına
# kaydırılır. Listedeki sıra aynı zamanda bayt belirteçlerinin kimlik sırasıdır: gerçek GPT-2
# sözlüğünde `!` 0, `"` 1, ..., `Ġ` (boşluk) 220'dir.
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable Unicode characters.

    The dict's insertion order is the byte tokens' id order in GPT-2's vocabulary."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


_BYTE_ENCODER = bytes_to_unicode()
_BYTE_DECODER = {c: b for b, c in _BYTE_ENCODER.items()}
_BYTE_ORDER = list(_BYTE_ENCODER)          # id -> byte value for the 256 initial tokens


def _bytes_to_str(bs: bytes) -> str:
    return "".join(_BYTE_ENCODER[b] for b in bs)


def _str_to_bytes(s: str) -> bytes | None:
    """Inverse of _bytes_to_str; None when `s` holds a character outside the byte alphabet."""
    try:
        return bytes(_BYTE_DECODER[c] for c in s)
    except KeyError:
        return None


def _check_encodable(text: str) -> bytes:
    """UTF-8 bytes of `text`, or a clear ValueError for lone surrogates."""
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = text[e.start]
        raise ValueError(
            f"cannot encode text: character U+{ord(bad):04X} at index {e.start} is a lone "
            f"surrogate, not valid Unicode (clean the text first, e.g. "
            f"text.encode('utf-8', 'replace').decode('utf-8'))") from None


def _normalise_specials(special_tokens) -> list[str]:
    if special_tokens is None:
        return []
    if isinstance(special_tokens, str):
        special_tokens = [special_tokens]
    out: list[str] = []
    for s in special_tokens:
        if not isinstance(s, str) or not s:
            raise ValueError(f"special tokens must be non-empty strings, got {s!r}")
        if not is_unicode(s):
            # _check_encodable'ın "metni temizleyin" öğüdü burada yanlış olurdu: metin değil,
            # belirteçleyicinin kendi belirteci bozuktur
            raise ValueError(f"special token {s!r} holds a lone surrogate, which is not valid "
                             f"Unicode (UTF-8 cannot encode it)")
        if s not in out:
            out.append(s)
    return out




class BPETokenizer:
    """Byte-level BPE tokenizer, file compatible with GPT-2 / Hugging Face.

    Create one with `BPETokenizer.train(text, vocab_size)`, `BPETokenizer.load(directory)` or
    `BPETokenizer.from_files(vocab_json, merges_txt)`."""

    type_name = "bpe"

    def __init__(self, id_to_bytes: list, merges: list[tuple[int, int]],
                 special_tokens: dict[str, int], pattern: str = GPT2_PATTERN,
                 literal_tokens: dict[int, str] | None = None):
        # id_to_bytes[i]: the bytes of normal token i, or None (special id / hole in the vocab)
        self._id_to_bytes = list(id_to_bytes)
        # literal_tokens: vocab.json entries outside the byte alphabet (id -> string as written);
        # merges never produce them, decoding writes their UTF-8 bytes.
        self._literal = dict(literal_tokens or {})
        self._bytes_to_id: dict[bytes, int] = {}
        for i, b in enumerate(self._id_to_bytes):
            if b is not None and b not in self._bytes_to_id and i not in self._literal:
                self._bytes_to_id[b] = i
        self._special_to_id = dict(special_tokens)
        self._id_to_special = {i: s for s, i in self._special_to_id.items()}
        # Sözlük boyu = en büyük kimlik + 1 (özel belirteçler dahil); modelin gömme tablosu
        # bu kadar satır ister.
        self._vocab_size = max([len(self._id_to_bytes), *(i + 1 for i in self._id_to_special)])
        missing = [b for b in range(256) if bytes([b]) not in self._bytes_to_id]
        if missing:
            raise ValueError(f"vocabulary lacks byte tokens for {len(missing)} byte values "
                             f"(e.g. {_BYTE_ENCODER[missing[0]]!r}); a byte-level BPE needs "
                             f"all 256")
        self._byte_ids = [self._bytes_to_id[bytes([b])] for b in range(256)]
        self._merges = list(merges)
        # (a, b) -> (sıra, yeni kimlik). Aynı çift iki kez yazılmışsa sonuncusu geçerlidir
        # (GPT-2'nin Python kodu ve Hugging Face böyle yapar).
        self._ranks: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (a, b) in enumerate(self._merges):
            new = self._bytes_to_id.get(self._id_to_bytes[a] + self._id_to_bytes[b])
            if new is None:
                raise ValueError(f"merge {rank} produces a token missing from the vocabulary")
            self._ranks[(a, b)] = (rank, new)
        self.pattern = pattern = resolve_pattern(pattern)
        self._pat = _compile(pattern)
        self._special_re = None
        self._special_re_key = None
        self._cache: dict[str, tuple[int, ...]] = {}

    # ------------------------------------------------------------------ properties
    @property
    def vocab_size(self) -> int:
        """Number of ids (largest id + 1), special tokens included."""
        return self._vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token string -> id (a copy), e.g. {'<|endoftext|>': 50256}."""
        return dict(self._special_to_id)

    @property
    def merges(self) -> list[tuple[str, str]]:
        """The merges in rank order, as GPT-2 style strings."""
        return [(_bytes_to_str(self._id_to_bytes[a]), _bytes_to_str(self._id_to_bytes[b]))
                for a, b in self._merges]

    def __len__(self) -> int:
        return self._vocab_size

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self._vocab_size}, merges={len(self._merges)}, "
                f"special_tokens={list(self._special_to_id)})")

    def token_to_id(self, token: str) -> int:
        """Id of a token written GPT-2 style (`'Ġevler'`) or of a special token."""
        if token in self._special_to_id:
            return self._special_to_id[token]
        for i, s in self._literal.items():
            if s == token:
                return i
        bs = _str_to_bytes(token)
        i = self._bytes_to_id.get(bs) if bs is not None else None
        if i is None:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return i

    def id_to_token(self, i: int) -> str:
        """GPT-2 style string of token id `i` (special tokens as themselves)."""
        return self._token_str(self._checked_id(i))

    def token_bytes(self, i: int) -> bytes:
        """The raw bytes token id `i` stands for."""
        i = self._checked_id(i)
        if i in self._id_to_special:
            return self._id_to_special[i].encode("utf-8")
        return self._id_to_bytes[i]

    def _checked_id(self, i) -> int:
        # Yalnızca tam sayılar: int(72.9) sessizce 72 olurdu
        try:
            if isinstance(i, bool):
                raise TypeError
            i = operator.index(i)            # int ve NumPy tam sayıları; 72.9, "x" değil
        except TypeError:
            raise ValueError(f"token id must be an integer, got {i!r}") from None
        if i in self._id_to_special:
            return i
        if not 0 <= i < len(self._id_to_bytes) or self._id_to_bytes[i] is None:
            raise ValueError(f"token id {i} is outside the vocabulary (size {self._vocab_size})")
        return i

    def _token_str(self, i: int) -> str:
        if i in self._id_to_special:
            return self._id_to_special[i]
        if i in self._literal:
            return self._literal[i]
        return _bytes_to_str(self._id_to_bytes[i])

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = GPT2_PATTERN,
              special_tokens: Iterable[str] = ("<|endoftext|>",),
              verbose: bool = False, progress: bool = False) -> "BPETokenizer":
        """Learn byte-level BPE merges from `text` until the vocabulary (256 byte tokens +
        merges + special tokens) holds `vocab_size` ids. `pattern` is the pre-tokenisation
        regex: GPT2_PATTERN, or TURKISH_PATTERN to keep a Turkish suffix after an apostrophe
        whole (`Ankara'da` -> `Ankara` + `'da`), or their names "gpt2" and "turkish"; it is
        saved with the tokenizer. A pattern whose matches leave a character of `text` out is
        an error (encoding would drop that character). `verbose`: print every 500th merge
        (and the last) on stdout. `progress`: progress bars on stderr
        (characters whose words are counted, then merges learnt) once a step has taken
        backend.PROGRESS_DELAY seconds; off by default."""
        # NumPy tam sayıları da tam sayıdır (GPTConfig'deki gibi): np.int64(300) "bir tam sayı
        # olmalı" diye reddediliyordu
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, numbers.Integral):
            raise ValueError(f"vocab_size must be an integer, got {vocab_size!r}")
        vocab_size = int(vocab_size)
        specials = _normalise_specials(special_tokens)
        if vocab_size < 256 + len(specials):
            n = len(specials)
            raise ValueError(f"vocab_size must be at least {256 + n} (256 byte tokens + {n} "
                             f"special token{'' if n == 1 else 's'}), got {vocab_size}")
        _check_encodable(text)
        pattern = resolve_pattern(pattern)
        pat = _compile(pattern)

        # 1. Ön belirteçleme ve sözcük sıklıkları. Özel belirteçler metinden çıkarılır:
        #    öğrenilmezler, sözlüğün sonuna eklenirler.
        chunks = [text]
        if specials:
            split = re.compile("|".join(re.escape(s) for s in
                                        sorted(specials, key=len, reverse=True)))
            chunks = split.split(text)
        counter: Counter = Counter()
        builtin = pattern in PATTERNS.values()
        # 100 MB'lık bir metinde sözcükleri saymak on saniyeyi, birleştirmeler birkaç saniyeyi
        # bulur: istenirse (eğitici) iki adımın her biri bir ilerleme çubuğu gösterir
        bar = progress_bar(progress, sum(map(len, chunks)), "BPE: counting words", "char")
        try:
            for chunk in chunks:
                for piece in (_pieces(chunk, _TRAIN_PIECE) if builtin else (chunk,)):
                    words = pat.findall(piece)
                    _check_covers(pat, piece, words)
                    counter.update(words)
                    bar.update(len(piece))
        finally:
            bar.close()

        # 2. Her farklı sözcük bayt kimliklerinin listesi olur (GPT-2 sırasıyla kimlikler).
        byte_id = [0] * 256
        for i, b in enumerate(_BYTE_ORDER):
            byte_id[b] = i
        id_to_bytes: list[bytes] = [bytes([b]) for b in _BYTE_ORDER]
        bytes_to_id = {bs: i for i, bs in enumerate(id_to_bytes)}
        words: list[list[int]] = []
        freqs: list[int] = []
        for w, f in counter.items():
            ids = [byte_id[b] for b in w.encode("utf-8")]
            if len(ids) > 1:          # tek baytlık sözcüklerde çift yok
                words.append(ids)
                freqs.append(f)

        # 3. İlk (ve tek) tam sayım: çift → toplam sıklık, çift → geçtiği sözcükler.
        counts: dict[tuple[int, int], int] = {}
        where: dict[tuple[int, int], set[int]] = {}
        for wi, (w, f) in enumerate(zip(words, freqs)):
            for p in zip(w, w[1:]):
                counts[p] = counts.get(p, 0) + f
                s = where.get(p)
                if s is None:
                    where[p] = {wi}
                else:
                    s.add(wi)
        # Yığın kayıtları: (-sayı, a, b). heapq en küçüğü verir: en sık çift, eşitlikte en
        # küçük kimlikli çift önce çıkar.
        heap = [(-c, p[0], p[1]) for p, c in counts.items()]
        heapq.heapify(heap)

        merges: list[tuple[int, int]] = []
        target = vocab_size - len(specials)
        bar = progress_bar(progress, target - len(id_to_bytes), "BPE: merges", "merge")
        while len(id_to_bytes) < target:
            # 4a. En sık çifti bul; bayat kayıtları (sayısı değişmiş) atla.
            pair = None
            while heap:
                negc, a, b = heapq.heappop(heap)
                if counts.get((a, b), 0) == -negc and negc < 0:
                    pair = (a, b)
                    break
            if pair is None:
                warnings.warn(f"BPE training ran out of pairs to merge: the text only "
                              f"supports {len(id_to_bytes) + len(specials)} tokens, "
                              f"not {vocab_size}", RuntimeWarning, stacklevel=2)
                break
            a, b = pair
            # 4b. Yeni belirteç. Aynı bayt dizisi başka bir birleştirmeyle zaten oluştuysa
            #     (ör. `ab`+`c` ve `a`+`bc`) mevcut kimlik kullanılır: vocab.json'da her dize
            #     bir kez geçebilir (Hugging Face eğiticisi de böyle yapar).
            new_bytes = id_to_bytes[a] + id_to_bytes[b]
            new = bytes_to_id.get(new_bytes)
            if new is None:
                new = len(id_to_bytes)
                id_to_bytes.append(new_bytes)
                bytes_to_id[new_bytes] = new
            merges.append(pair)
            if verbose and (len(merges) % 500 == 0 or len(id_to_bytes) == target):
                print(f"merge {len(merges)}: {_bytes_to_str(id_to_bytes[a])!r} + "
                      f"{_bytes_to_str(id_to_bytes[b])!r} (count {-negc}) -> id {new}")

            # 4c. Artımlı güncelleme: yalnızca `a b` içeren sözcükler yeniden yazılır. Her
            #     sözcük için eski çiftlerin katkısı çıkarılır, yenilerinki eklenir.
            changed: set[tuple[int, int]] = set()
            for wi in where.pop(pair, ()):
                w = words[wi]
                f = freqs[wi]
                n = len(w)
                nw: list[int] = []
                i = 0
                while i < n:
                    if i + 1 < n and w[i] == a and w[i + 1] == b:
                        nw.append(new)
                        i += 2
                    else:
                        nw.append(w[i])
                        i += 1
                words[wi] = nw
                delta: dict[tuple[int, int], int] = {}
                for p in zip(w, w[1:]):
                    delta[p] = delta.get(p, 0) - f
                for p in zip(nw, nw[1:]):
                    delta[p] = delta.get(p, 0) + f
                for p, d in delta.items():
                    if d:
                        changed.add(p)
                        c = counts.get(p, 0) + d
                        if c:
                            counts[p] = c
                        else:
                            counts.pop(p, None)
                # Dizin (where) güncellemesi: yeni çiftlere sözcüğü ekle, artık geçmeyenlerden sil.
                new_pairs = set(zip(nw, nw[1:]))
                for p in new_pairs:
                    s = where.get(p)
                    if s is None:
                        where[p] = {wi}
                    else:
                        s.add(wi)
                for p in set(zip(w, w[1:])) - new_pairs:
                    s = where.get(p)
                    if s is not None:
                        s.discard(wi)
            counts.pop(pair, None)
            changed.discard(pair)
            for p in changed:
                c = counts.get(p, 0)
                if c > 0:
                    heapq.heappush(heap, (-c, p[0], p[1]))
            bar.update()
        bar.close()

        # 5. Özel belirteçler sözlüğün sonuna.
        special_ids = {}
        for s in specials:
            if _str_to_bytes(s) in bytes_to_id:
                # vocab.json'da aynı dize iki kimliğe işaret edemez
                raise ValueError(f"special token {s!r} is also a learnt token; choose a special "
                                 f"token the pre-tokenisation pattern cannot produce")
            special_ids[s] = len(id_to_bytes) + len(special_ids)
        return cls(id_to_bytes, merges, special_ids, pattern)

    # ------------------------------------------------------------------ encoding
    # Tek bir ön belirteç ("sözcük") için BPE: baytlardan başla, yan yana çiftler arasında
    # sırası en küçük birleştirmeyi bul (eşitlikte en soldaki), uygula; birleştirme kalmayınca
    # dur. Bu, Hugging Face `tokenizers`'ın BPE modelinin kuralıyla aynıdır. Aynı sözcük
    # metinde tekrar tekrar geçtiği için sonuç önbelleğe yazılır (çok uzun sözcükler hariç).
    def _bpe(self, word: str) -> tuple[int, ...]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        byte_ids = self._byte_ids
        ids = [byte_ids[b] for b in word.encode("utf-8")]
        if len(ids) <= _SHORT_WORD:
            result = tuple(self._merge_short(ids))
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[word] = result
            return result
        return tuple(self._merge_long(ids))

    # Kısa sözcükler (neredeyse hepsi): çiftlerin sıralarını bir listede tut, her adımda en
    # küçüğünü bul ve yalnızca birleşen yerin iki komşu çiftini yeniden hesapla. n bayt için
    # O(n²) ama n küçük olduğundan en hızlısı budur.
    def _merge_short(self, ids: list[int]) -> list[int]:
        ranks = self._ranks
        inf = (_NO_RANK, -1)
        # pr[i]: (ids[i], ids[i+1]) çiftinin (sıra, yeni kimlik) değeri
        pr = [ranks.get(p, inf) for p in zip(ids, ids[1:])]
        while pr:
            best = min(pr)
            if best[0] == _NO_RANK:
                break
            i = pr.index(best)
            ids[i:i + 2] = [best[1]]
            del pr[i]
            if i > 0:
                pr[i - 1] = ranks.get((ids[i - 1], ids[i]), inf)
            if i < len(pr):
                pr[i] = ranks.get((ids[i], ids[i + 1]), inf)
        return ids

    # Uzun sözcükler (ör. 100 000 tane "a" ya da boşluksuz bir veri bloğu): O(n²) yerine
    # O(n log n). Çiftler (sıra, konum) anahtarıyla bir yığında, belirteçler çift yönlü bağlı
    # listede durur. Yığından çıkan kayıt artık geçerli değilse (sol belirteç birleşip
    # değişmiş ya da sağ komşusu başkası olmuşsa) atlanır. Konumlar soldan sağa sıralı
    # kaldığı için seçim kuralı kısa yoldakiyle aynıdır: en küçük sıra, eşitlikte en sol.
    def _merge_long(self, ids: list[int]) -> list[int]:
        ranks = self._ranks
        n = len(ids)
        sym = list(ids)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        alive = [True] * n
        heap = []
        for i in range(n - 1):
            r = ranks.get((sym[i], sym[i + 1]))
            if r is not None:
                heap.append((r[0], i, sym[i], sym[i + 1]))
        heapq.heapify(heap)
        while heap:
            _, i, a, b = heapq.heappop(heap)
            if not alive[i] or sym[i] != a:
                continue
            j = nxt[i]
            if j == -1 or sym[j] != b:
                continue
            new = ranks[(a, b)][1]
            sym[i] = new
            alive[j] = False
            k = nxt[j]
            nxt[i] = k
            if k != -1:
                prv[k] = i
                r = ranks.get((new, sym[k]))
                if r is not None:
                    heapq.heappush(heap, (r[0], i, new, sym[k]))
            p = prv[i]
            if p != -1:
                r = ranks.get((sym[p], new))
                if r is not None:
                    heapq.heappush(heap, (r[0], p, sym[p], new))
        return [sym[i] for i in range(n) if alive[i]]

    def _encode_ordinary(self, text: str, out: list[int]) -> None:
        bpe = self._bpe
        words = self._pat.findall(text)
        # Eğitimdeki denetimin aynısı: kendi ifadesiyle yüklenen (load, from_files) ya da
        # eğitildiği metni kapsayan ama bu metni kapsamayan bir ifade, eşleşmelerin dışında
        # kalan karakterleri sessizce düşürürdü (decode(encode(metin)) != metin). Maliyeti
        # sözcük başına bir uzunluk toplamıdır; GPT-2 ve Türkçe ifadeleri her metni kapsar.
        _check_covers(self._pat, text, words, encoding=True)
        for word in words:
            out.extend(bpe(word))

    def _special_splitter(self, allowed: frozenset):
        if self._special_re_key != allowed:
            self._special_re = re.compile(
                "(" + "|".join(re.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")")
            self._special_re_key = allowed
        return self._special_re

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Token ids of `text`.

        allowed_special: "all" (special tokens in the text become their single ids), "none"
        (they are encoded as ordinary text), or a set of special token strings to allow.
        Text with a character outside every match of the tokenizer's pre-tokenisation
        pattern (a custom one) is a ValueError: it would be left out of the ids."""
        _check_encodable(text)
        if allowed_special == "all":
            allowed = frozenset(self._special_to_id)
        elif allowed_special == "none" or allowed_special is None:
            allowed = frozenset()
        else:
            if isinstance(allowed_special, str):
                raise ValueError(f"allowed_special must be 'all', 'none' or a set of special "
                                 f"tokens, got {allowed_special!r}")
            allowed = frozenset(allowed_special)
            unknown = allowed - set(self._special_to_id)
            if unknown:
                raise ValueError(f"not special tokens of this tokenizer: {sorted(unknown)}")
        out: list[int] = []
        if not allowed:
            self._encode_ordinary(text, out)
            return out
        parts = self._special_splitter(allowed).split(text)
        # split() with one capturing group: even indexes are text, odd ones special tokens
        for k, part in enumerate(parts):
            if k % 2:
                out.append(self._special_to_id[part])
            elif part:
                self._encode_ordinary(part, out)
        return out

    def decode(self, ids) -> str:
        """Text of token ids (one sequence, or a single id); invalid UTF-8 byte sequences
        become U+FFFD (like Hugging Face)."""
        # CharTokenizer.decode ile aynı sözleşme: tek bir kimlik (3, np.int64(3)) kabul edilir,
        # (B, T) bir toplu iş ise satır satır çözülmeli ("'int' object is not iterable" ya da
        # "token id must be an integer, got [1, 2]" yerine)
        if getattr(ids, "ndim", 1) > 1:
            raise ValueError(f"decode takes one sequence of token ids, got an array of shape "
                             f"{tuple(ids.shape)}: decode each row of a batch separately")
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        id_to_bytes = self._id_to_bytes
        n = len(id_to_bytes)
        pieces = []
        for i in ids:
            if type(i) is int and 0 <= i < n:
                bs = id_to_bytes[i]
                if bs is not None:
                    pieces.append(bs)
                    continue
            pieces.append(self.token_bytes(i))
        return b"".join(pieces).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ files
    def save(self, directory: str) -> None:
        """Write vocab.json + merges.txt (GPT-2 format) and tokenizer_meta.json, as one unit
        (atomic.atomic_write_files: an interrupted save leaves the old three files)."""
        atomic_write_files(directory, {name: text_writer(text)
                                       for name, text in self.file_texts().items()})

    def file_texts(self) -> dict[str, str]:
        """The files `save` writes: file name -> text (a checkpoint records their sha256)."""
        vocab = {}
        for i in range(self._vocab_size):
            if i in self._id_to_special or (i < len(self._id_to_bytes)
                                            and self._id_to_bytes[i] is not None):
                vocab[self._token_str(i)] = i
        lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in self.merges]
        meta = {"type": self.type_name, "special_tokens": list(self._special_to_id),
                "pattern": self.pattern}
        return {
            VOCAB_FILE: json.dumps(vocab, ensure_ascii=False),
            MERGES_FILE: "\n".join(lines) + "\n",
            META_FILE: json.dumps(meta, indent=1) + "\n",
        }

    @classmethod
    def load(cls, directory: str, *, meta=None) -> "BPETokenizer":
        """Load a tokenizer written by `save`. meta: the content of its tokenizer_meta.json,
        where the caller has read it already (load_tokenizer, which finds the type there):
        the file is then not read again."""
        meta_path = os.path.join(directory, META_FILE)
        # load_tokenizer türü bulmak için dosyayı zaten okuyup ayrıştırmıştır: ikinci kez
        # okunmaz (okunsaydı iki okuma arasında değişen bir dosyanın iki ayrı hâli de
        # karışabilirdi)
        if meta is None:
            meta = _read_json(meta_path)
        if not isinstance(meta, dict) or meta.get("type") != cls.type_name:
            got = meta.get("type") if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"{meta_path}: not a BPE tokenizer (type {got!r}, expected 'bpe')")
        specials = meta.get("special_tokens", [])
        pattern = meta.get("pattern", GPT2_PATTERN)
        if not isinstance(specials, list) or not all(isinstance(s, str) and s for s in specials):
            raise ValueError(f"{meta_path}: 'special_tokens' must be a list of non-empty strings")
        try:
            _normalise_specials(specials)
        except ValueError as e:
            raise ValueError(f"{meta_path}: {e}") from None
        if not isinstance(pattern, str):
            raise ValueError(f"{meta_path}: 'pattern' must be a string")
        try:
            _compile(pattern)
        except ValueError as e:
            # geçersiz bir ifade tokenizer_meta.json'ın sorunudur, vocab.json'ın değil
            raise ValueError(f"{meta_path}: {e}") from None
        return cls.from_files(os.path.join(directory, VOCAB_FILE),
                              os.path.join(directory, MERGES_FILE),
                              special_tokens=specials, pattern=pattern)

    @classmethod
    def from_files(cls, vocab_json: str, merges_txt: str, special_tokens=None,
                   pattern: str = GPT2_PATTERN) -> "BPETokenizer":
        """Load any GPT-2 style vocab.json + merges.txt (e.g. a Hugging Face gpt2 folder).

        special_tokens: strings of vocab.json to treat as special (matched whole in the text,
        never merged); None means `<|endoftext|>` if the vocabulary has it (GPT-2's default)."""
        return cls.from_vocab(_read_json(vocab_json), lambda: _read_text(merges_txt),
                              special_tokens, pattern, vocab_json, merges_txt)

    @classmethod
    def from_vocab(cls, vocab: dict, merges_text, special_tokens=None,
                   pattern: str = GPT2_PATTERN, vocab_json="vocab.json",
                   merges_txt="merges.txt") -> "BPETokenizer":
        """from_files for a vocabulary already in memory (no file is written): `vocab` as
        vocab.json holds it; `merges_text` the text of merges.txt, or a path to that file
        (an os.PathLike such as pathlib.Path: read, with from_files' errors, once the
        vocabulary is checked), or a function that returns the text. vocab_json / merges_txt:
        what error messages call them."""
        # Bir Hugging Face klasörünün sözlüğü (eklenmiş belirteçleri katılmış vocab.json ya da
        # tokenizer.json'ın model.vocab'ı) bellekte kurulur: onu diske (sistemin geçici
        # klasörüne) yazıp from_files ile yeniden okumak, o klasör dolu ya da yazılamaz
        # olduğunda modelin yüklenmesini yalnızca "[Errno 28]" diyen bir hatayla durdururdu
        if not isinstance(vocab, dict) or not vocab:
            raise ValueError(f"{vocab_json}: expected a non-empty JSON object token -> id")
        ids_seen: dict[int, str] = {}
        for tok, i in vocab.items():
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ValueError(f"{vocab_json}: id of token {tok!r} must be a non-negative "
                                 f"integer, got {i!r}")
            # Kimlik tablosu en büyük kimlik kadar uzundur: bozuk bir dosyadaki dev bir
            # kimlik, açık bir hata yerine bellek taşmasına yol açardı
            if i >= _MAX_ID:
                raise ValueError(f"{vocab_json}: id of token {tok!r} is {i}, larger than any "
                                 f"vocabulary (ids must be below {_MAX_ID})")
            if i in ids_seen:
                raise ValueError(f"{vocab_json}: tokens {ids_seen[i]!r} and {tok!r} share id {i}")
            ids_seen[i] = tok
        if special_tokens is None:
            specials = ["<|endoftext|>"] if "<|endoftext|>" in vocab else []
        else:
            specials = _normalise_specials(special_tokens)
            missing = [s for s in specials if s not in vocab]
            if missing:
                raise ValueError(f"{vocab_json}: special tokens {missing} are not in the "
                                 f"vocabulary")
        special_ids = {s: vocab[s] for s in specials}
        size = max(ids_seen) + 1
        id_to_bytes: list = [None] * size
        literal: dict[int, str] = {}
        bytes_to_id: dict[bytes, int] = {}
        if isinstance(merges_text, os.PathLike):
            text = _read_text(merges_text)
        else:
            text = merges_text() if callable(merges_text) else merges_text
        # Birleştirmelerin kullandığı ya da ürettiği belirteçler. Bir özel (eklenmiş) belirteç
        # bunlardan biriyse (ör. sözlükte zaten olan `merhaba` sonradan eklenmişse) ya da tek bir
        # baytsa BPE'nin de parçasıdır: hem metinde bütün olarak aranır hem de BPE onu üretebilir.
        in_merges = set()
        for line in text.split("\n"):
            parts = line.rstrip("\r").split(" ")
            if len(parts) == 2 and not line.startswith("#version"):
                in_merges.update((parts[0], parts[1], parts[0] + parts[1]))
        for tok, i in vocab.items():
            bs = _str_to_bytes(tok)
            if tok in special_ids and not (bs is not None and (len(bs) == 1
                                                               or tok in in_merges)):
                continue
            if bs is None:
                # Bayt alfabesi dışında karakter içeren bir dize (ör. sonradan eklenmiş bir
                # belirteç): birleştirmelerle oluşamaz; çözmede UTF-8 baytları yazılır.
                literal[i] = tok
                bs = tok.encode("utf-8", errors="replace")
            elif bs not in bytes_to_id or i < bytes_to_id[bs]:
                bytes_to_id[bs] = i
            id_to_bytes[i] = bs
        merges: list[tuple[int, int]] = []
        for lineno, line in enumerate(text.split("\n"), 1):
            line = line.rstrip("\r")
            if not line or line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise ValueError(f"{merges_txt}:{lineno}: expected two tokens separated by one "
                                 f"space, got {line!r}")
            pair = []
            for tok in parts:
                bs = _str_to_bytes(tok)
                i = bytes_to_id.get(bs) if bs is not None else None
                if i is None or tok not in vocab:
                    raise ValueError(f"{merges_txt}:{lineno}: token {tok!r} is not in {vocab_json}")
                pair.append(vocab[tok])
            if parts[0] + parts[1] not in vocab:
                raise ValueError(f"{merges_txt}:{lineno}: merged token {parts[0] + parts[1]!r} "
                                 f"is not in {vocab_json}")
            merges.append((pair[0], pair[1]))
        try:
            return cls(id_to_bytes, merges, special_ids, pattern, literal)
        except ValueError as e:
            raise ValueError(f"{vocab_json}: {e}") from None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not valid UTF-8 text ({e})") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e})") from None


def _read_json(path: str):
    text = _read_text(path)
    try:
        return load_json(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt JSON ({e})") from None
