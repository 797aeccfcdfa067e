#!/usr/bin/env python3
"""
# Örnek 2: karakter düzeyinde bir GPT eğitmek

`nanograd-llm train` komutunun yaptığını Python'dan yapar: bir hazır ayar (preset) seçilir,
istenen alanlar değiştirilir, `train()` çağrılır. Eğitim bittiğinde çıktı klasöründe
denetim noktası (ağırlıklar, AdamW momentleri, belirteçleyici, üreteç durumu),
`metrics.jsonl` günlüğü ve matplotlib kuruluysa `loss.png` kayıp eğrisi bulunur.

Neye bakmalı?

* **Eğitim ve doğrulama kaybı birlikte iner**; doğrulama kaybı eğitimden belirgin biçimde
  yüksek kalmaya başlarsa model ezberliyordur (aşırı öğrenme). Küçük derlemlerde bu erken
  olur: `dropout=0.1` gibi bir düzenlileştirme ya da daha küçük bir model deneyin.
* **Öğrenme oranı takvimi**: ilk `warmup_iters` adımda oran sıfırdan doğrusal yükselir,
  sonra kosinüs eğrisiyle `min_lr`'ye iner. İlerleme çubuğunda `lr` değerini izleyin.
* **Belirteç/saniye**: CPU'da hız, matris çarpımlarının boyutuyla belirlenir. `n_embd`'yi
  (C) iki katına çıkarmak, ağırlığı C×C olan çarpımların işini dört katına, dikkat
  puanlarının, çıkış katmanının ve öğe öğe işlemlerin işini ise iki katına çıkarır;
  `default` hazır ayarında `n_embd`'yi 96'dan 192'ye çıkarmak bir adımı 2 çekirdekte
  1,8–4,1 kat (ortanca 2,6) uzattı.

Çalıştırma (her komut kendi klasörüne yazar: içinde bir eğitim bulunan klasörde yeni bir
eğitim başlamaz; `--resume` onu sürdürür, `--overwrite` silip baştan başlar):

    python examples/train_char_gpt.py     # default hazır ayarı, gömülü derlem → out/example_gpt
    python examples/train_char_gpt.py --data tinyshakespeare --preset baby --out out/example_baby
    python examples/train_char_gpt.py --small --out /tmp/deneme         # saniyeler süren deneme
    python examples/train_char_gpt.py --out out/kisa max_iters=300 dropout=0.1  # herhangi bir alan

`tinyshakespeare` gibi adlı derlemler (`wizard_of_oz`, `seyfettin`) ilk kullanımda indirilir ve
önbellekte saklanır (`$NANOGRAD_LLM_DATA_DIR`, o yoksa `$XDG_CACHE_HOME/nanograd_llm`, o da yoksa
`~/.cache/nanograd_llm`). Ağ bağlantısı yoksa hata iletisi dosyanın beklendiği yolu söyler: başka
bir bilgisayarda indirilmiş önbellek dosyası oraya kopyalanabilir; `--data` bir dosya yolu da alır.
"""
from __future__ import annotations

import argparse
import sys

from nanograd_llm.cli import report_errors, report_stopped_run, shell_note, shell_quote
from nanograd_llm.train import make_config, parse_overrides, resume_config, sample_text, train

# Saniyeler içinde biten küçük ayar: sürekli tümleştirmede (CI) bu çalıştırılır
SMALL = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=8, max_iters=30,
             eval_interval=15, eval_iters=2, warmup_iters=5, lr_decay_iters=30)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train a character-level GPT.")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--data", default=None, help="text file or corpus name (default: embedded)")
    ap.add_argument("--out", default="out/example_gpt")
    ap.add_argument("--small", action="store_true", help="a tiny setting that runs in seconds")
    once = ap.add_mutually_exclusive_group()
    once.add_argument("--overwrite", action="store_true",
                      help="start over in --out even if it already holds a run")
    once.add_argument("--resume", action="store_true",
                      help="continue the run in --out with its saved settings (key=value "
                           "changes some of them, e.g. max_iters=60)")
    ap.add_argument("overrides", nargs="*", metavar="key=value")
    args = ap.parse_args(argv)
    # Hatalar, ikinci Ctrl-C ya da SIGTERM, bellek yetmezliği: `nanograd-llm train` komutu gibi
    # hata izi (traceback) yerine tek satır ve çıkış durumu (1, 130, 143)
    return report_errors(lambda: run(args))


def run(args) -> int:
    if args.resume:
        # Devam: ayarlar denetim noktasından gelir; yalnızca verilen key=value değişir
        cfg = resume_config(args.preset, overrides=parse_overrides(args.overrides),
                            data=args.data, out_dir=args.out)
    else:
        overrides = {**(SMALL if args.small else {}), **parse_overrides(args.overrides)}
        cfg = make_config(args.preset, overrides=overrides, data=args.data,
                          out_dir=args.out)
    result = train(cfg, resume=args.resume, progress=not args.small,
                   overwrite=args.overwrite)
    out = shell_quote(result["out_dir"])
    if result.get("interrupted"):
        # Ctrl-C ya da SIGTERM: son denetim noktası kaydedildi; örnek üretmeden, devam
        # komutunu söyleyerek çık (130 ya da 143: 128 + sinyal numarası)
        return report_stopped_run(
            result, f"python examples/train_char_gpt.py --out {out} --resume")
    if result["val_loss"] is not None:
        print(f"step {result['step']}: train loss {result['train_loss']:.3f}, "
              f"val loss {result['val_loss']:.3f} ({result['wall_s']:.1f} s)")
    else:   # bitmiş bir eğitim devam ettirildi ve kayıp günlüğü yok: yazılacak kayıp yok
        print(f"step {result['step']}: nothing left to train ({result['wall_s']:.1f} s)")
    print("--- sample ---")
    print(sample_text(result["model"], result["tokenizer"], "", 200, temperature=0.8, seed=0))
    print(f"checkpoint: {result['out_dir']}  (python examples/sample_checkpoint.py {out})"
          f"{shell_note(result['out_dir'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
