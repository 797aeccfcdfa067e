"""
# Kurs: NumPy'dan GPT'ye, kodun yanında Türkçe açıklamalar

Bu paket, kursun yalnızca kod dosyalarında yaşamayan bölümlerini (NumPy/CuPy ön bilgisi,
bigram modeli, Transformer mimarisi, GPT'nin büyük resmi) içerir. Geri kalan her bölüm,
anlattığı kodun kendi modülüdür: katmanlar `nanograd_llm/layers/`, modeller
`nanograd_llm/models/` altındadır. Bölümlerin okuma sırası yalnızca burada, `PARTS`
listesinde tanımlıdır; `nanograd-llm docs` komutu da bu sırayı kullanır.
"""
from __future__ import annotations

from ..layers import CHAPTERS as LAYER_CHAPTERS

# Kursun kısımları ve her kısmın bölümleri (tam modül adlarıyla), okuma sırasıyla.
# Listede olup bulunamayan bir modül (ör. adı değişmiş ya da silinmiş), belge üretiminde bir
# uyarıyla atlanır.
PARTS: list[tuple[str, list[str]]] = [
    ("1. NumPy ve CuPy ile hazırlık", [
        "nanograd_llm.course.primer",
        "nanograd_llm.backend",
    ]),
    ("2. Bigram dil modeli", [
        "nanograd_llm.course.bigram",
        "nanograd_llm.models.bigram",
    ]),
    ("3. Transformer mimarisi", [
        "nanograd_llm.course.transformer",
    ]),
    ("4. Katmanlar: ileri ve geri geçiş", [
        "nanograd_llm.layers." + name for name in LAYER_CHAPTERS
    ]),
    ("5. GPT", [
        "nanograd_llm.course.gpt",
        "nanograd_llm.models.gpt",
        "nanograd_llm.models.base",
        "nanograd_llm.tokenizers.char",
        "nanograd_llm.tokenizers.bpe",
        "nanograd_llm.data",
        "nanograd_llm.optim",
        "nanograd_llm.config",
        "nanograd_llm.train",
        "nanograd_llm.run_folder",
        "nanograd_llm.checkpoint",
        "nanograd_llm.evaluate",
        "nanograd_llm.generate",
        "nanograd_llm.chat",
        "nanograd_llm.hf",
    ]),
    ("6. Hız: birleşik çekirdekler (CPU ve GPU)", [
        "nanograd_llm.cpu_kernels",
        "nanograd_llm.cuda_kernels",
        "nanograd_llm.cuda_graph",
    ]),
    ("Ek: doğruluk denetimi ve belgeler", [
        "nanograd_llm.gradcheck",
        "nanograd_llm.docs",
        "nanograd_llm.viz",
    ]),
]

# Düz liste: tüm bölümler, okuma sırasıyla.
CHAPTERS: list[str] = [name for _, names in PARTS for name in names]


# Bölümlerin Türkçe çıktılarındaki sayılar metindeki gibi yazılır: ondalık ayırıcı virgüldür,
# beş ve daha çok basamaklı sayılarda binlikler boşlukla ayrılır (0,359; 124 439 808; 1000).
# Python'un `f"{x:,}"` biçimi binlikleri virgülle ayırır, `.3f` ise ondalığı noktayla yazar;
# Türkçede ikisi de yanlış okunur (`124,439,808 parametre`, `kayıp 4.174`).
def tr_number(x, digits: int | None = None) -> str:
    """x as the Turkish text writes it: tr_number(124439808) -> '124 439 808',
    tr_number(0.3594, 2) -> '0,36', tr_number(1000) -> '1000'."""
    text = f"{int(x):,}" if digits is None else f"{x:,.{digits}f}"
    whole, _, frac = text.partition(".")
    if len(whole.replace(",", "").lstrip("-")) < 5:
        whole = whole.replace(",", "")
    return whole.replace(",", " ") + ("," + frac if frac else "")


__all__ = ["PARTS", "CHAPTERS", "LAYER_CHAPTERS", "tr_number"]
