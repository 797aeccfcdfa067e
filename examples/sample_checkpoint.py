#!/usr/bin/env python3
"""
# Örnek 3: bir denetim noktasından metin üretmek

Eğitimin bıraktığı klasör (`--out`) modeli yeniden kurmak için gereken her şeyi tutar:
model ayarları `checkpoint.json` içinde, ağırlıklar `model-*.npz` dosyasında, belirteçleyici
`tokenizer_meta.json` ile `tokenizer.json` (BPE'de `vocab.json` + `merges.txt`) dosyalarında.
`GPT.load(klasör)` (bigram için `load_model`) modeli kurar ve ağırlıkları yükler; dosyalar
`allow_pickle=False` ile okunduğu için bir denetim noktası kod çalıştıramaz.

## Sıcaklık (temperature)
Model her adımda sözlükteki her belirteç için bir logit üretir. Olasılıklar
`softmax(logit / τ)` ile hesaplanır (`τ` sıcaklıktır):

* `τ < 1` dağılımı sivriltir: en olası karakterler daha da baskın olur, metin daha düzgün
  ama tekrarlı olur.
* `τ = 1` modelin öğrendiği dağılımın kendisidir.
* `τ > 1` dağılımı düzleştirir: daha şaşırtıcı, daha çok yazım hatalı metin.

Aynı `--seed` aynı metni verir; üretim tohumlanmış bir üreteçten örnekler.

Çalıştırma:

    python examples/sample_checkpoint.py out/default --prompt "Dikkat " --temperature 0.8
"""
from __future__ import annotations

import argparse
import sys

from nanograd_llm.checkpoint import load_model, load_run_tokenizer
from nanograd_llm.train import sample_text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Sample text from a trained checkpoint.")
    ap.add_argument("ckpt", help="the run directory written by training")
    ap.add_argument("--prompt", default="\n")
    ap.add_argument("--max-new-tokens", type=int, default=300)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        model = load_model(args.ckpt)
        tok = load_run_tokenizer(args.ckpt)
        print(f"{type(model).__name__} with {model.num_params():,} parameters")
        for temperature in (args.temperature,):
            # Bilinmeyen bir karakter açık bir hatadır (modelin görmediği bir istemi
            # gösterip devam etmek yanıltıcı olurdu); atlamak/değiştirmek için:
            # nanograd-llm sample --ckpt DIR --prompt ... --unknown skip|replace
            text = sample_text(model, tok, args.prompt, args.max_new_tokens,
                               temperature=temperature, seed=args.seed)
            print(args.prompt + text)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
