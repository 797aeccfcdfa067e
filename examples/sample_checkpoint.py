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

## Sözlükte olmayan karakterler
Karakter düzeyindeki bir model yalnızca eğitim metninde gördüğü karakterleri bilir. İstemde
bilinmeyen bir karakter varsa varsayılan davranış açık bir hatadır (`--unknown strict`): modelin
görmediği bir istemi sessizce değiştirip devam etmek yanıltıcı olurdu. `--unknown skip` bu
karakterleri atlar, `--unknown replace` yerlerine sözlükteki yedek karakteri koyar.

Çalıştırma:

    python examples/sample_checkpoint.py out/default --prompt "Dikkat " --temperature 0.8
"""
from __future__ import annotations

import argparse
import sys

from nanograd_llm.checkpoint import load_model, load_run_tokenizer
from nanograd_llm.cli import report_errors
from nanograd_llm.train import sample_text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Sample text from a trained checkpoint.")
    ap.add_argument("ckpt", help="the run directory written by training")
    ap.add_argument("--prompt", default="\n")
    ap.add_argument("--max-new-tokens", type=int, default=300)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unknown", choices=["strict", "skip", "replace"], default="strict",
                    help="what to do with prompt characters the tokenizer does not know")
    args = ap.parse_args(argv)
    # Hatalar, Ctrl-C, SIGTERM ve erken kapanan bir okuyucu (`| head`): `nanograd-llm sample`
    # gibi hata izi yerine tek satır ve çıkış durumu (1, 130, 143, 141)
    return report_errors(lambda: run(args))


def run(args) -> int:
    model = load_model(args.ckpt)
    tok = load_run_tokenizer(args.ckpt)
    print(f"{type(model).__name__} with {model.num_params():,} parameters")
    # Bilinmeyen karakter: varsayılan açık bir hatadır; --unknown skip|replace ile
    # belirteçleyicinin `errors` argümanına geçer (nanograd-llm sample'daki seçenekle aynı)
    text = sample_text(model, tok, args.prompt, args.max_new_tokens,
                       temperature=args.temperature, seed=args.seed, errors=args.unknown)
    print(args.prompt + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
