"""
# Transformer bloğu (ön normalizasyonlu / pre-LN, GPT-2 düzeni)

## Ne yapar?
GPT, aynı yapıdaki blokların üst üste dizilmesinden oluşur. Her blok iki alt katman
içerir: önce çok kafalı dikkat (konumlar arası iletişim), sonra ileri besleme ağı (her
konumda hesaplama). Her alt katmanın etrafında bir **artık bağlantı** (residual
connection) vardır: alt katmanın çıktısı girdisine **eklenir**.

GPT-2'de katman normalizasyonu her alt katmandan **önce** uygulanır (pre-LN). Orijinal
Transformer'da ise alt katmandan sonra, toplamın üzerine uygulanıyordu (post-LN). Ön
normalizasyonda artık yol `x`'ten çıkışa kadar hiçbir normalizasyondan geçmeden uzanır;
derin ağlarda gradyanların akışı bu sayede kolaylaşır ve eğitim daha kararlı olur.

## İleri geçiş
    x₁  = x  + MHA(LN₁(x))
    out = x₁ + MLP(LN₂(x₁))

## Şekiller
| ad                    | şekil      |
|-----------------------|------------|
| `x`, `x₁`, `out`      | (B, T, C)  |
| `LN₁(x)`, `MHA(…)`    | (B, T, C)  |
| `LN₂(x₁)`, `MLP(…)`   | (B, T, C)  |

Blok şekli değiştirmez; bu yüzden istenildiği kadar üst üste dizilebilir. İleri besleme
ağının içinde ara boyut 4C'ye çıkar (bkz. mlp.py), ama bloğun dışına (B, T, C) döner.

## Geri yayılım (ileri geçişin tersi sırayla)
1. `out = x₁ + MLP(LN₂(x₁))`: toplamanın türevi iki kola da aynen gider.
   * artık kol: `dx₁ = dout`
   * MLP kolu: `dh₂ = MLP_geri(dout)`, `dx₁ += LN₂_geri(dh₂)`
   `x₁` iki yerde kullanıldığı için (fan-out) gradyanları **toplanır**.
2. `x₁ = x + MHA(LN₁(x))`: aynı şekilde
   * artık kol: `dx = dx₁`
   * dikkat kolu: `dh₁ = MHA_geri(dx₁)`, `dx += LN₁_geri(dh₁)`.

Artık bağlantının türevi 1 olduğundan gradyan, alt katmanlar ne yaparsa yapsın, çıkıştan
girdiye doğrudan ulaşır; "kaybolan gradyan" sorununu hafifleten şey budur.

## Bellek (CPU): normalizasyon çıktıları saklanmaz, yeniden hesaplanır
Geri geçişte `dW_attn = LN₁(x)ᵀ·dqkv` ve `dW_fc = LN₂(x₁)ᵀ·dh` için iki normalizasyonun
çıktıları gerekir; doğrusal katmanların önbellekleri bu yüzden onları tutar. Oysa katman
normalizasyonunun kendi önbelleği `x̂`'i zaten tutar ve çıktı `x̂⊙w + b`, iki öğe-öğe işlemle
(sapmasız katmanda tek çarpımla) yeniden elde edilir (`layernorm_output`; aynı işlemler aynı
sırayla, sonuç bit düzeyinde aynı). Etkinleştirme büyükse (`LN_RECOMPUTE_MIN` = 1 M öğe ve
üstü, yalnızca CPU'da) blok, ileri geçişin sonunda bu iki başvuruyu bırakır ve geri geçişte
çıktıları yeniden hesaplar (MLP'nin GELU çıktısı için yaptığının aynısı, bkz. mlp.py). Kazanç
blok başına iki (B, T, C) dizisidir: shakespeare ayarında bir eğitim adımının en yüksek bellek
kullanımı ≈ 3,0 GB'tan ≈ 2,8 GB'a iner (benchmarks/RESULTS.md, oturum 5). Bedeli blok başına C
genişliğinde dört öğe-öğe geçiştir (sapmasız modelde, shakespeare ayarındaki gibi, iki); 4C
genişliğindeki matris çarpımlarının yanında adım süresinde ölçülemeyecek kadar küçüktür. Küçük
etkinleştirmelerde (ör. `baby`) hiçbir şey bırakılmaz: kazanılacak anlamlı bir bellek yoktur,
fazladan NumPy çağrıları ise zaman alır.

Gradyan denetimi: `tests/test_layers.py::test_block_gradcheck`.
PyTorch ile karşılaştırma (ileri ve geri geçiş):
`tests/test_layers_torch.py::test_composite_layers`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import get_array_module
from .layernorm import layernorm_backward, layernorm_forward, layernorm_output
from .mlp import mlp_backward, mlp_forward
from .multihead_attention import mha_backward, mha_forward

# Boyutlar: B = toplu iş, T = dizi uzunluğu, C = gömme boyutu

LN_RECOMPUTE_MIN = 1 << 20   # LN çıktısı en az bu kadar öğe tutuyorsa önbellekte saklanmaz (CPU)


class BlockCache(NamedTuple):
    """What block_forward keeps for block_backward."""

    ln_1: Any
    attn: Any
    ln_2: Any
    mlp: Any


def _sub(p: dict, prefix: str) -> dict:
    """The entries of p under 'prefix.' with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in p.items() if k.startswith(prefix + ".")}


def block_forward(x, p: dict, n_head: int, activation: str = "gelu", dropout: float = 0.0,
                  rng=None, train: bool = True, kv_cache=None, layer: int = 0,
                  eps: float = 1e-5):
    """x + attn(ln_1(x)), then + mlp(ln_2(·)). p uses GPT-2's names inside a block
    ('ln_1.weight', 'attn.c_attn.weight', 'mlp.c_fc.weight', ...); eps is the layer norms'
    epsilon. Returns (out, cache)."""
    # Dikkat alt katmanı, önce normalizasyon (pre-LN)
    h, c_ln1 = layernorm_forward(x, p["ln_1.weight"], p.get("ln_1.bias"), eps)       # (B,T,C)
    a, c_attn = mha_forward(h, _sub(p, "attn"), n_head, dropout, rng, train, kv_cache, layer)
    # Artık bağlantı: x₁ = x + MHA(LN₁(x))
    x1 = x + a
    # İleri besleme alt katmanı, önce normalizasyon
    h, c_ln2 = layernorm_forward(x1, p["ln_2.weight"], p.get("ln_2.bias"), eps)       # (B,T,C)
    m, c_mlp = mlp_forward(h, _sub(p, "mlp"), activation, dropout, rng, train)
    # Artık bağlantı: out = x₁ + MLP(LN₂(x₁)); m'nin belleği yeniden kullanılır
    m += x1
    if h.size >= LN_RECOMPUTE_MIN and get_array_module(h) is np:
        # CPU, büyük etkinleştirme: c_attn ve c_fc'nin önbellekleri LN çıktılarını tutmasın;
        # geri geçişte x̂'ten yeniden hesaplanırlar (yukarıdaki "Bellek" bölümü)
        c_attn = c_attn._replace(c_attn=c_attn.c_attn._replace(x2d=None))
        c_mlp = c_mlp._replace(c_fc=c_mlp.c_fc._replace(x2d=None))
    return m, BlockCache(c_ln1, c_attn, c_ln2, c_mlp)


def _with_ln_output(linear_cache, ln_cache):
    """The linear layer's cache with its input x2d rebuilt from the layer norm's cache when the
    forward pass dropped it; unchanged otherwise."""
    if linear_cache.x2d is not None:
        return linear_cache
    # İleri geçişte: `h = LN(x) = x̂⊙w + b` saklanmadı → aynı işlemlerle yeniden hesaplanır
    h = layernorm_output(ln_cache)                                  # (B,T,C)
    return linear_cache._replace(x2d=h.reshape(-1, h.shape[-1]))   # (B,T,C) -> (N,C)


def block_backward(dout, cache: BlockCache):
    """Returns (dx, grads) with grads keyed like p."""
    grads = {}
    # İleri geçişte: `out = x₁ + MLP(LN₂(x₁))` → MLP kolu (c_fc'nin girdisi LN₂(x₁);
    # ileri geçiş onu bıraktıysa burada yeniden kurulur)
    c_mlp = cache.mlp._replace(c_fc=_with_ln_output(cache.mlp.c_fc, cache.ln_2))
    dh, g = mlp_backward(dout, c_mlp)
    del c_mlp
    grads.update({"mlp." + k: v for k, v in g.items()})
    # İleri geçişte: `h = LN₂(x₁)` → bu yüzden `dx₁ = LN₂_geri(dh)` (ayrıca dw, db)
    dx1, grads["ln_2.weight"], db = layernorm_backward(dh, cache.ln_2)
    if db is not None:
        grads["ln_2.bias"] = db
    # x₁ iki kez kullanıldı (artık kol + MLP kolu) → gradyanlar toplanır: dx₁ = dout + ...
    dx1 += dout
    # İleri geçişte: `x₁ = x + MHA(LN₁(x))` → dikkat kolu (c_attn'ın girdisi LN₁(x))
    c_attn = cache.attn._replace(c_attn=_with_ln_output(cache.attn.c_attn, cache.ln_1))
    dh, g = mha_backward(dx1, c_attn)
    del c_attn
    grads.update({"attn." + k: v for k, v in g.items()})
    # İleri geçişte: `h = LN₁(x)` → bu yüzden `dx = LN₁_geri(dh)` (ayrıca dw, db)
    dx, grads["ln_1.weight"], db = layernorm_backward(dh, cache.ln_1)
    if db is not None:
        grads["ln_1.bias"] = db
    # İleri geçişte: `x₁ = x + MHA(LN₁(x))` (artık kol) → bu yüzden `dx += dx₁`
    dx += dx1
    return dx, grads
