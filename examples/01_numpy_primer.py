"""
# Hazırlık: NumPy ve CuPy ön bilgisi (kursun ilk bölümü)

`nanograd_llm/course/primer.py`'deki bölümleri (diziler ve veri türleri, şekiller ve
yayınlama, matris çarpımı, indeksleme ve `np.add.at`, alt üçgen maske, kararlı softmax, rastgele
sayı üreteçleri, GPU'da CuPy) sırayla çalıştırır ve her birinin sonucunu yazdırır; açıklamalar
o dosyadadır. Her bölüm dizi modülünü `xp` adıyla alır: CPU'da `numpy`, `--device cuda` ile
`cupy`. Böylece aynı kod GPU'da da değişmeden çalışır (katmanlar ise `xp`'yi
`get_array_module` ile girdiden çıkarır).

    python examples/01_numpy_primer.py                 # CPU'da NumPy
    python examples/01_numpy_primer.py --device cuda   # aynı kod, GPU'da CuPy
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from nanograd_llm.cli import report_errors  # noqa: E402
from nanograd_llm.course.primer import run_all  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run the NumPy/CuPy primer (chapter 1 of the course).")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    # Hatalar (GPU yok), Ctrl-C, SIGTERM ve erken kapanan bir okuyucu (`| head`): öteki örnekler ve
    # `nanograd-llm` komutları gibi hata izi yerine tek satır ve çıkış durumu
    return report_errors(lambda: run_all(args.device) or 0)


if __name__ == "__main__":
    sys.exit(main())
