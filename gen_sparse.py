import torch, io, zipfile, struct, sys
def save_patch(obj, name, recpatch):
    b = io.BytesIO(); torch.save(obj, b)
    zin = zipfile.ZipFile(io.BytesIO(b.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for n in zin.namelist():
            d = zin.read(n)
            key = n.split("/")[-1]
            if "/data/" in n and key in recpatch: d = recpatch[key](d)
            z.writestr(n, d)
    open(f"/tmp/redteam/{name}.pt", "wb").write(out.getvalue())
def i64(*v): return lambda d: struct.pack(f"<{len(v)}q", *v)
def i32(*v): return lambda d: struct.pack(f"<{len(v)}i", *v)
coo = torch.sparse_coo_tensor([[0, 1]], [1., 2.], (3,)).coalesce()
# find which record is indices: print records
b = io.BytesIO(); torch.save(coo, b); z = zipfile.ZipFile(io.BytesIO(b.getvalue()))
for n in z.namelist():
    if "/data/" in n: print("coo", n, z.read(n))
csr = torch.tensor([[1., 0, 2], [0, 3, 0]]).to_sparse_csr()
b = io.BytesIO(); torch.save(csr, b); z = zipfile.ZipFile(io.BytesIO(b.getvalue()))
for n in z.namelist():
    if "/data/" in n: print("csr", n, z.read(n))
