"""
# Bir eğitim adımını CUDA grafiği olarak yeniden oynatmak

## Sorun: çekirdek başlatma maliyeti
GPU'da her `xp` işlemi (bir toplama, bir `exp`, bir matris çarpımı) ayrı bir **çekirdek
(kernel) başlatmasıdır**. Python'un CuPy üzerinden bir çekirdeği başlatması ~10–20 µs işlemci
zamanı alır. `shakespeare` boyutundaki bir modelin ileri + geri geçişi binlerce çekirdektir;
bu çekirdeklerin çoğu GPU'da birkaç mikrosaniyede biter. Sonuç: GPU, işlemcinin bir sonraki
işi göndermesini bekleyerek boş durur; adım süresini GPU değil Python belirler.

## Çözüm: bir kez kaydet, sonra tek çağrıyla oynat
CUDA, bir akıştaki (stream) işleri çalıştırmadan **kaydetmeye** izin verir (stream capture).
Kayıt bitince elimizde bir **grafik** olur: hangi çekirdeğin hangi argümanlarla, hangi bellek
adreslerinde, hangi sırayla çalışacağı. `graph.launch()` bütün adımı tek bir başlatmayla
GPU'ya verir; Python'un katman katman dolaşması artık her adımda tekrarlanmaz.

Bu modül yalnızca **ileri + geri geçişi** kaydeder (gradyan kırpma ve AdamW birkaç çekirdektir,
grafiğin dışında kalır: öğrenme oranı her adımda değişen bir Python sayısıdır ve grafiğe
gömülseydi donup kalırdı).

## Grafiğin kuralları ve bizim önlemlerimiz
1. **Adresler sabittir.** Grafik her oynatmada aynı adreslerden okur, aynı adreslere yazar.
   Bu yüzden girdi toplu işi her adımda kalıcı bir tampona (`_idx`, `_tgt`) kopyalanır;
   parametreler ve gradyanlar zaten tek, kalıcı düz tamponlardır (`model.flat`,
   `model.grad_flat`).
2. **Ara tensörler kendi bellek havuzunda yaşar.** Kayıt sırasında ayrılan bütün ara diziler
   (etkinleştirmeler, geçici diziler) bu adıma ayrılmış bir `cupy.cuda.MemoryPool`'dan gelir.
   Kayıttan sonra serbest bırakılan bir blok başka bir diziye verilseydi, sonraki oynatma onun
   üzerine yazardı; ayrı havuz bunu olanaksız kılar.
3. **İşlemci–GPU eşitlemesi yasaktır.** Kayıt sırasında `float(loss)` ya da `int(x.sum())`
   gibi bir değer okuma hataya yol açar. İleri/geri geçiş bu yüzden kaybı 0-boyutlu bir GPU
   dizisi olarak döndürür. `ignore_index` kullanan bir model, geçerli hedef sayısını
   işlemcide saydığı için grafiğe alınmaz (olağan yol çalışır).
4. **Rastgele sayılar grafiğin dışında çekilir.** Dropout maskeleri her adımda farklı
   olmalıdır; grafiğe kaydedilmiş bir rastgele sayı çekiminin her oynatmada yeni sayılar mı
   yoksa hep aynı sayıları mı üreteceği belirsiz olurdu. `ReplayRandom`, ileri geçişin
   istediği rastgele dizileri (aynı sırayla, aynı şekillerle) kalıcı tamponlarda tutar; her
   adımdan önce bu tamponlar o adımın üreteciyle (`device_rng([tohum, 4, adım])`) yeniden
   doldurulur. Böylece maskeler, grafiksiz (olağan) yolun çekeceği maskelerle **birebir
   aynıdır**; kaldığı yerden devam eden bir eğitim de aynı maskeleri kullanır.
5. **Kayıttan önce bir ısınma geçişi.** Çekirdeklerin derlenmesi, cuBLAS kütüphanesinin
   yüklenmesi (`cuda_kernels._cublas`) ve tanıtıcısının kurulması gibi tek seferlik işler kayıt
   sırasında yapılmamalıdır: kayıt sırasında çekirdekler çalışmaz, yalnızca kaydedilir; bir
   işin sonucu hemen gerekiyorsa (örneğin bir önbelleğe konan bir dizi) boş kalırdı. Isınma
   geçişi bu işleri önceden yapar; ilk adımın kaybı ve gradyanları da ısınma geçişinden gelir.

6. **cuBLAS doğrudan çağrılır.** CuPy'ın kendi cuBLAS sarmalayıcıları (`@`, `cupy.matmul`)
   bir kayıt sırasında çağrılınca "calling cuBLAS API during stream capture is currently
   unsupported" hatası verir. Katmanlardaki bütün matris çarpımları `backend.matmul_t`
   üzerinden gider; GPU'da bu, cuBLAS'ı `ctypes` ile doğrudan çağıran `cuda_kernels.gemm`'dir
   ve kayda girer.

Kayıt herhangi bir nedenle başarısız olursa (CuPy sürümü, desteklenmeyen bir işlem) adım
olağan yola döner ve nedeni `TrainStep.reason`'da yazar: eğitim hiçbir zaman grafik yüzünden
durmaz.

## CPU'da
NumPy'da grafik yoktur; `TrainStep` orada olağan ileri + geri geçişi çağırır. Testler için
`emulate=True`, "kaydet ve oynat" mantığını Python'da taklit eder (kayıt = fonksiyonu saklamak,
oynatma = aynı tamponlarla yeniden çağırmak); kalıcı tamponların, rastgele sayı tekrarının ve
kaybın kopyalanmasının doğruluğu böylece GPU olmadan da test edilir.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .backend import get_array_module


class ReplayRandom:
    """A stand-in for the model's dropout generator that hands out fixed buffers.

    Recording (`recording=True`): every `random(shape, dtype)` call allocates a buffer, fills
    it from the wrapped generator and remembers it. Replaying: the calls get the remembered
    buffers back, in the same order (shape and dtype must match). `refill(gen)` draws fresh
    numbers into the buffers in that order, exactly the draws the model would make itself.
    """

    def __init__(self, xp, gen=None):
        self.xp = xp
        self.gen = gen
        self.buffers: list = []
        self.recording = True
        self._next = 0

    def random(self, size=None, dtype=np.float64):
        shape = (size,) if isinstance(size, int) else tuple(size or ())
        dtype = np.dtype(dtype)
        if self.recording:
            buf = self.xp.empty(shape, dtype=dtype)
            self._draw(self.gen, buf)
            self.buffers.append(buf)
            return buf
        if self._next >= len(self.buffers):
            raise RuntimeError("the replayed step asked for more random arrays than were "
                               "recorded")
        buf = self.buffers[self._next]
        if buf.shape != shape or buf.dtype != dtype:
            raise RuntimeError(f"the replayed step asked for random {shape} {dtype}, "
                               f"recorded {buf.shape} {buf.dtype}")
        self._next += 1
        return buf

    def replay(self) -> None:
        """Hand out the recorded buffers again, from the first."""
        self.recording = False
        self._next = 0

    def refill(self, gen) -> None:
        """Draw new numbers into every buffer, in the recorded order."""
        for buf in self.buffers:
            self._draw(gen, buf)

    @staticmethod
    def _draw(gen, buf) -> None:
        # Aynı sayılar: model kendisi `gen.random(shape, dtype)` çağırsaydı alacağı değerler.
        # Sayılar `out=` ile tampona yazılır. NumPy onları doğrudan tampona çeker; CuPy 14.2'nin
        # Generator.random'ı ise önce tampon boyutunda yeni bir diziye çekip onu tampona kopyalar
        # (elementwise_copy): GPU'da ara dizi ve kopya `buf[...] = gen.random(...)` yazımındakiyle
        # aynıdır, `out=` orada bir şey kazandırmaz (CuPy'da çıktıya doğrudan yazan yalnızca
        # standard_normal'dır)
        gen.random(buf.shape, dtype=buf.dtype, out=buf)


class _PythonGraph:
    """CPU emulation of a captured graph: 'launch' calls the recorded function again."""

    def __init__(self, fn):
        self.fn = fn

    def launch(self, stream=None) -> None:
        self.fn()


class TrainStep:
    """Forward + backward of one training batch, as a CUDA graph on the GPU when possible.

    `step(idx, targets, dropout_seed)` returns the loss (a 0-d array on the model's device) and
    leaves the gradients in `model.grad_flat`, exactly like
    `model.set_dropout_seed(seed); model.forward(idx, targets); model.backward()`.
    The first call records (captures) the step; later calls with the same batch shape only copy
    the batch into the step's buffers, redraw the dropout numbers and replay the graph.
    A batch of another shape, a switched-off graph, or a failed capture run the ordinary path.
    """

    def __init__(self, model, use_graph: bool = True, emulate: bool = False):
        self.model = model
        self.xp = model.xp
        self.emulate = bool(emulate)
        self.reason = None            # why the graph is not used (None while it is)
        self.enabled = bool(use_graph)
        if not self.enabled:
            self.reason = "switched off"
        elif self.xp is np and not self.emulate:
            self.enabled, self.reason = False, "no CUDA graphs on the CPU"
        elif getattr(getattr(model, "config", None), "ignore_index", None) is not None:
            # cross_entropy_forward counts the valid targets on the host (a sync)
            self.enabled, self.reason = False, "ignore_index needs a host sync"
        self._graph = None
        self._key = None
        self.replays = 0

    @property
    def active(self) -> bool:
        """True once a graph has been recorded and is being replayed."""
        return self._graph is not None

    # -- ordinary path -------------------------------------------------------------------
    def _eager(self, idx, targets, dropout_seed):
        m = self.model
        if dropout_seed is not None:
            m.set_dropout_seed(dropout_seed)
        xp = m.xp
        _, loss = m.forward(xp.asarray(idx), xp.asarray(targets))
        m.backward()
        return loss

    def step(self, idx, targets, dropout_seed=None):
        m = self.model
        if self._graph is not None and m.flat is not self._flat:
            # Model başka bir aygıta taşındı (`to`): eski adresler geçersiz, grafik atılır
            self._forget()
        key = (tuple(idx.shape), np.dtype(idx.dtype), tuple(targets.shape),
               np.dtype(targets.dtype), m.training)
        if not self.enabled or (m.xp is np and not self.emulate) \
                or (self._graph is not None and key != self._key):
            return self._eager(idx, targets, dropout_seed)
        if self._graph is None:
            try:
                return self._record(idx, targets, dropout_seed, key)
            except Exception as e:                  # kayıt olmadı: olağan yola dön
                self._drop(f"capture failed: {type(e).__name__}: {e}")
                return self._eager(idx, targets, dropout_seed)
        self._load(idx, targets)
        if self._rand.buffers:                      # dropout açık: yeni maskeler için sayılar
            self._rand.refill(self._generator(dropout_seed))
        self._graph.launch(self._launch_stream())
        self.replays += 1
        return self._loss.copy()

    __call__ = step

    # -- recording -----------------------------------------------------------------------
    def _generator(self, dropout_seed):
        """The generator the ordinary path would draw this step's dropout numbers from: the
        model's, seeded first (`set_dropout_seed`) when a seed is given, as that path does."""
        if dropout_seed is not None:
            self.model.set_dropout_seed(dropout_seed)
        # Modelin şu anki üreteci (kayıt anındaki değil): adımlar arasında yeniden
        # tohumlanmış olabilir
        return self.model.rng

    def _load(self, idx, targets) -> None:
        """Copy the batch into the step's fixed buffers (host or device arrays)."""
        for buf, a in ((self._idx, idx), (self._tgt, targets)):
            if get_array_module(a) is np and self.xp is not np:
                buf.set(np.ascontiguousarray(a))
            else:
                buf[...] = a

    def _drop(self, reason: str) -> None:
        self.enabled, self.reason = False, reason
        self._forget()

    def _forget(self) -> None:
        """Release the graph and everything that lives in its memory pool."""
        m = self.model
        if isinstance(m.rng, ReplayRandom):
            m.rng = getattr(self, "_gen", None)       # modelin kendi üretecine dön
        # Havuzdaki dizilere hiçbir başvuru kalmamalı: havuz bırakılınca bellekleri de gider
        m.release_activations()
        self._graph = self._loss = self._rand = None
        self._idx = self._tgt = self._flat = None
        self._pool = None

    def _record(self, idx, targets, dropout_seed, key):
        m, xp = self.model, self.model.xp
        self.xp = xp
        self._flat = m.flat               # kayıt bu parametre tamponunun adreslerine bağlıdır
        # Gradyan dizisi ilk kullanımda ayrılır (models/base.py): kayıttan önce, olağan
        # ayırıcıdan ayrılsın. Isınma geçişinde ayrılsaydı adımın kendi havuzundan gelirdi ve
        # model gradyanlarını tuttukça, TrainStep bırakıldıktan sonra da o havuzun belleği
        # serbest kalmazdı
        m.grad_flat
        gen = self._generator(dropout_seed)
        self._gen = m.rng                 # tohum verilmezse modelin üreteci sürdürülür
        if self.emulate:
            return self._record_emulated(idx, targets, gen, key)
        import cupy as cp
        cp.cuda.Device().synchronize()
        self._pool = cp.cuda.MemoryPool()
        stream = cp.cuda.Stream(non_blocking=True)
        with cp.cuda.using_allocator(self._pool.malloc), stream:
            self._idx = xp.empty(idx.shape, dtype=idx.dtype)
            self._tgt = xp.empty(targets.shape, dtype=targets.dtype)
            self._load(idx, targets)
            self._rand = ReplayRandom(xp, gen)
            # 1) Isınma: derleme, kütüphane yükleme, tanıtıcılar; bu adımın sonucu
            warm = self._run()
            stream.synchronize()
            # 2) Kayıt: aynı geçiş, aynı tamponlarla; çekirdekler çalışmaz, yalnızca kaydedilir
            self._rand.replay()
            stream.begin_capture()
            err = None
            try:
                self._loss = self._run()
            except Exception as e:          # asıl neden; kayıt yine de kapatılmalı
                err = e
            try:
                graph = stream.end_capture()
            except Exception as e:
                err = err or e
            if err is not None:
                raise err
        stream.synchronize()
        first = warm.copy()               # varsayılan havuzda: TrainStep'ten uzun yaşayabilir
        del warm
        # Kayıtta kurulan etkinleştirmeler havuzda kalır (grafik onlara yazar), ama modelin
        # onlara bir başvurusu kalmasın: TrainStep silinip havuz bırakılınca boşa düşerlerdi.
        m.release_activations()
        self._graph, self._key, self._stream = graph, key, stream
        return first

    def _record_emulated(self, idx, targets, gen, key):
        xp = self.xp
        self._flat = self.model.flat
        self._idx = xp.empty(idx.shape, dtype=idx.dtype)
        self._tgt = xp.empty(targets.shape, dtype=targets.dtype)
        self._load(idx, targets)
        self._rand = ReplayRandom(xp, gen)
        first = self._run().copy()
        self._rand.replay()
        holder = {}

        def replay():
            self._rand.replay()
            holder["loss"][...] = self._run()

        holder["loss"] = xp.zeros((), dtype=first.dtype)
        self._loss = holder["loss"]
        self._graph, self._key, self._stream = _PythonGraph(replay), key, None
        return first

    def _run(self):
        """The recorded work: forward and backward with the step's buffers."""
        m = self.model
        own, m.rng = m.rng, self._rand
        try:
            _, loss = m.forward(self._idx, self._tgt)
            m.backward()
        finally:
            m.rng = own                   # model kendi üretecine döner (oynatma onu okumaz)
        return loss

    def _launch_stream(self) -> Any:
        if self.emulate:
            return None
        import cupy as cp
        # Grafik, olağan işlerin sürdüğü akışta oynatılır: önceki AdamW adımından sonra,
        # gradyan kırpmadan önce çalışması bu sırayla güvenceye alınır.
        return cp.cuda.get_current_stream()
