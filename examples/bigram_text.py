#!/usr/bin/env python3
"""
# Örnek 1: bir metin dosyası üzerinde bigram dil modeli

Bu betik, eğitimin bütün parçalarını tek bir sayfada, elle yazılmış bir döngüyle gösterir:

1. **Metni oku** (`load_text`): BOM atılır, CRLF satır sonları LF olur; dosya UTF-8 değilse
   hata iletisi bozuk baytın yerini söyler.
2. **Belirteçleyiciyi kur** (`CharTokenizer.from_text`): metindeki her farklı karakter bir
   belirteçtir; sözlük boyutu V, bu karakterlerin sayısıdır.
3. **Kimliklere çevir ve böl**: ilk %90 eğitim, son %10 doğrulama.
4. **Modeli kur** (`BigramLM`): V × V'lik tek bir tablo. `tablo[a]`, `a` karakterinden sonra
   gelecek karakterin logitleridir.
5. **Döngü**: rastgele pencereler çek, ileri geçişle kaybı hesapla, geri yayılımla gradyanı
   al, AdamW ile bir adım at.
6. **Üret**: son karakterin satırından olasılıkları hesapla, bir karakter seç, tekrarla.

Bigram, yalnızca bir önceki karaktere baktığı için sözcükleri değil, harf ikililerinin
sıklığını öğrenir: çıktı "Türkçeye benzeyen" ama anlamsız hece dizileri olur. Kaybın
nereye kadar inebildiğine dikkat edin: varsayılan ayarlarla (1500 adım) doğrulama kaybı gömülü
Türkçe derlemde 2,6 ile 2,8 arasında (derlem bu projenin açıklamalarından üretildiği için sürümden
sürüme biraz değişir), tiny Shakespeare'de 2,48 civarında durur (ölçülen). Daha uzun eğitim bunu
pek değiştirmez: bir karakterden sonra ne geldiğinin sayımlarından öte bir bilgi
tabloda yoktur. GPT'nin dikkat katmanları bu sınırı aşmak için vardır.

Çalıştırma:

    python examples/bigram_text.py                      # gömülü Türkçe derlem
    python examples/bigram_text.py metin.txt --iters 3000
    python examples/bigram_text.py --iters 100          # birkaç saniyelik deneme
    python examples/bigram_text.py tinyshakespeare      # adlı bir derlem

`tinyshakespeare` gibi adlı derlemler (`wizard_of_oz`, `seyfettin`) ilk kullanımda indirilir ve
önbellekte saklanır (`$NANOGRAD_LLM_DATA_DIR`, o yoksa `$XDG_CACHE_HOME/nanograd_llm`, o da yoksa
`~/.cache/nanograd_llm`). Ağ bağlantısı yoksa hata iletisi dosyanın beklendiği yolu söyler: başka
bir bilgisayarda indirilmiş önbellek dosyası oraya kopyalanabilir.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from nanograd_llm import BigramLM
from nanograd_llm.cli import report_errors
from nanograd_llm.data import BatchSampler, id_dtype, load_text, split_ids
from nanograd_llm.models.base import advice_when_too_large
from nanograd_llm.optim import AdamW
from nanograd_llm.tokenizers import CharTokenizer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a character bigram model on a text file.")
    ap.add_argument("path", nargs="?", default=None,
                    help="UTF-8 text file or corpus name (default: the embedded corpus)")
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=5e-2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--block-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name in ("iters", "batch_size", "block_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.lr > 0:
        ap.error("--lr must be positive")
    if args.seed < 0:
        ap.error("--seed must be non-negative")
    # Hatalar, Ctrl-C, SIGTERM ve erken kapanan bir okuyucu (`| head`): `nanograd-llm`
    # komutları gibi hata izi yerine tek satır ve çıkış durumu (1, 130, 143, 141)
    return report_errors(lambda: run(args), "use a smaller --batch-size or --block-size")


def run(args) -> int:
    # Adlı bir derlem indirilemezse hata, yerine ne yapılabileceğini bu betiğin kendi
    # argümanıyla söyler (`nanograd-llm train`in --data seçeneğiyle değil)
    text, label = load_text(args.path, instead="train on any local text file: python "
                                               "examples/bigram_text.py PATH")
    tok = CharTokenizer.from_text(text)
    # Kimlikler sözlüğe yeten en küçük türde saklanır: 65 536'dan çok farklı karakteri olan bir
    # metinde (ör. Çince) uint16 taşar; eğitici de aynı türü seçer (data.id_dtype)
    ids = np.asarray(tok.encode(text), dtype=id_dtype(tok.vocab_size))
    # Kısa bir metnin hatası bu betiğin seçeneğini söyler (--block-size N; val_fraction yok)
    data = split_ids(ids, args.block_size, source=label, block_size_option="--block-size {}",
                     val_fraction_option=False)
    print(f"{label}: {len(text):,} characters, vocabulary of {tok.vocab_size}")

    # Bigram modelinin tablosu V × V'liktir: makineye sığmazsa öğüt bu betikte olmayan ayarları
    # (n_layer, n_embd, vocab_size) değil, tabloyu küçülten tek yolu söyler
    with advice_when_too_large("use a text with fewer distinct characters (a bigram's table "
                               "has a row and a column per character of the text)"):
        model = BigramLM(tok.vocab_size, seed=args.seed)
    opt = AdamW(model, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    sampler = BatchSampler(data, args.block_size, args.batch_size, seed=args.seed)

    def val_loss() -> float:
        model.eval()
        losses = [float(model.forward(w[:, :-1], w[:, 1:])[1])
                  for w in sampler.eval_batches("val", 10, 0)]
        model.train()
        return sum(losses) / len(losses)

    print(f"step 0: val loss {val_loss():.3f}  (uniform guess: ln V = {np.log(tok.vocab_size):.3f})")
    for step in range(1, args.iters + 1):
        w = sampler.train_batch()                    # (B, T+1) pencere
        _, loss = model.forward(w[:, :-1], w[:, 1:])  # x, y = bir kaydırılmış
        model.backward()
        opt.step(model.grads)
        if step % max(1, args.iters // 5) == 0 or step == args.iters:
            print(f"step {step}: train loss {float(loss):.3f}, val loss {val_loss():.3f}")

    start = np.array([[tok.encode("\n")[0]]]) if "\n" in tok.stoi else np.zeros((1, 1), int)
    out = model.generate(start, max_new_tokens=300, temperature=1.0, seed=args.seed)
    print("--- sample ---")
    print(tok.decode(out[0, 1:]))
    return 0

if __name__ == "__main__":
    sys.exit(main())
