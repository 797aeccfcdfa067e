"""Time the 15 matrix products of one baby block (forward, dX, dW of c_attn, c_proj, c_fc, mlp c_proj, head)
in NumPy (OpenBLAS) or PyTorch, one library per process:  python3 benchmarks/matmul_shapes.py numpy|torch"""
import argparse
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lib", choices=["numpy", "torch"])
    lib = ap.parse_args(argv).lib
    shapes = [(768,128,384),(768,128,128),(768,128,512),(768,512,128),(768,128,65)]
    if lib == "torch":
        try:
            import torch
        except ImportError as e:
            raise SystemExit(f"error: matmul_shapes.py torch needs PyTorch: {e}") from None
        torch.set_num_threads(2)
    tot = 0.0
    for (m,k,n) in shapes:
        a = np.random.rand(m,k).astype(np.float32); b = np.random.rand(k,n).astype(np.float32); g = np.random.rand(m,n).astype(np.float32)
        if lib == "torch":
            a, b, g = map(torch.from_numpy, (a, b, g))
            fs = [lambda: a@b, lambda: g@b.T, lambda: a.T@g]
        else:
            fs = [lambda: a@b, lambda: g@b.T, lambda: a.T@g]
        for f in fs:
            for _ in range(10): f()
            ts=[]
            for _ in range(50):
                t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
            tot += np.median(ts)
    # per step: 4 layers x (4 linears fwd+2 bwd) + head (x1); approximate with weights
    print(lib, "sum of medians over the 15 products (ms):", round(tot*1e3,3))


if __name__ == "__main__":
    main()
