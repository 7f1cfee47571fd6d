"""Writer of a Sen2Cor-2.12-identical L2A SAFE product.

The tree, file names and metadata are those Sen2Cor 2.10+ writes in TOOLBOX mode (facts §5):
``MTD_MSIL2A.xml``, ``manifest.safe``, ``INSPIRE.xml``, ``HTML/``, ``rep_info/``,
``DATASTRIP/DS_*/{MTD_DS.xml, QI_DATA}`` and
``GRANULE/L2A_*/{MTD_TL.xml, AUX_DATA, IMG_DATA/R10m|R20m|R60m, QI_DATA}``.
The product is assembled in a staging folder beside the destination and published with one
atomic rename (:mod:`core.io.staging`); ``manifest.safe`` is written last, over the finished
tree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # building documents only; parsing is in core.io.xml
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Final, Protocol

import numpy as np

from core.errors import OutputError
from core.io import storage
from core.io.block_writer import run_each
from core.io.cog import LayerKind
from core.io.jp2 import write_jp2
from core.io.staging import staged_product
from core.io.xml import find_text, parse_xml_bytes
from core.product import l2a_metadata as mtd
from core.product.encoded_layers import EncodedKey, EncodedLayer, EncodedRasters
from core.product.l2a_manifest import manifest_safe, serialize_manifest
from core.product.l2a_quality import (
    AtmosphereSummary,
    ImageContentQI,
    image_content_qi,
    l2a_quality_xml,
)
from core.product.l2a_rasters import (
    AOT_QUANTIFICATION_VALUE,
    BOA_ADD_OFFSET,
    BOA_BANDS,
    BOA_QUANTIFICATION_VALUE,
    EXTENSIONS,
    IMAGE_FORMAT_ATTRIBUTE,
    PROBABILITY_RESOLUTIONS,
    SCL_RESOLUTIONS,
    WVP_QUANTIFICATION_VALUE,
    ImageFormat,
    encode_boa,
    encode_scaled,
    write_layer,
)
from core.product.metadata import L1CMetadata, L1CSourceFiles, ProcessingBaseline, RasterGrid
from core.product.naming import ProductNames, check_centre
from core.product.quicklook import (
    TCI_BANDS,
    index_html,
    preview,
    preview_grid,
    true_colour,
    write_png,
)

DEFAULT_BASELINE: Final[ProcessingBaseline] = ProcessingBaseline(99, 99)
"""``Baseline_Version`` of Sen2Cor's ``L2A_PB_GIPP.xml`` (-> ``N9999``)."""
OFFSET_BASELINE: Final[ProcessingBaseline] = ProcessingBaseline(4, 0)
DEFAULT_DOI: Final[str] = "https://doi.org/10.5270/S2_-znk9xsj"
L2A_SCHEMAS: Final[tuple[str, ...]] = (
    "S2_User_Product_Level-2A_Metadata.xsd",
    "S2_PDI_Level-2A_Tile_Metadata.xsd",
    "S2_PDI_Level-2A_Datastrip_Metadata.xsd",
)
"""The ``rep_info`` content of real L2A products."""
RESOLUTION_DIRS: Final[tuple[int, ...]] = (10, 20, 60)


class L1CProductLike(Protocol):
    """What the writer needs of :class:`core.product.l1c.L1CProduct`."""

    @property
    def metadata(self) -> L1CMetadata: ...

    @property
    def files(self) -> L1CSourceFiles: ...


@dataclass(frozen=True)
class L2ALayers:
    """Computed results, per resolution in metres (any may be absent).

    BOA is float32 reflectance (NaN = no-data), ``aot550`` unitless, ``wvp_cm`` in cm,
    ``scene_class`` SCL codes (uint8), probabilities 0…100 % (uint8).
    """

    boa: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    aot550: dict[int, np.ndarray] = field(default_factory=dict)
    wvp_cm: dict[int, np.ndarray] = field(default_factory=dict)
    scene_class: dict[int, np.ndarray] = field(default_factory=dict)
    cloud_probability: dict[int, np.ndarray] = field(default_factory=dict)
    snow_probability: dict[int, np.ndarray] = field(default_factory=dict)
    atmosphere: AtmosphereSummary | None = None
    """Scalar AC results (ozone, visibility, DDV) for the QI reports."""
    encoded: EncodedRasters | None = None
    """BOA/AOT/WVP/TCI assembled window by window; a layer found here is written from it
    instead of the in-memory dicts."""

    def boa_bands(self, resolution: int) -> tuple[str, ...]:
        """BOA bands held at ``resolution`` (in memory or encoded), sorted by name."""
        encoded = self.encoded.boa_bands(resolution) if self.encoded else ()
        return tuple(sorted({*self.boa.get(resolution, {}), *encoded}))

    def boa_resolutions(self) -> tuple[int, ...]:
        """Resolutions holding BOA bands (in memory or encoded), finest first."""
        return tuple(r for r in self._resolutions() if self.boa_bands(r))

    def tci_resolutions(self) -> tuple[int, ...]:
        """Resolutions with a TCI (encoded, or from in-memory BOA), finest first."""
        return tuple(r for r in self._resolutions() if self.has_visual(r))

    def _resolutions(self) -> list[int]:
        return sorted({*self.boa, *(self.encoded.resolutions() if self.encoded else ())})

    def has_visual(self, resolution: int) -> bool:
        """True when a TCI exists at ``resolution``: encoded, or from BOA B04/B03/B02."""
        if self.encoded is not None and self.encoded.has(EncodedKey("visual", resolution)):
            return True
        return all(band in self.boa.get(resolution, {}) for band in TCI_BANDS)

    def pixels(self, key: EncodedKey, boa_add_offset: int) -> np.ndarray | EncodedLayer | None:
        """The layer ``key`` as the product stores it: the encoded raster when :attr:`encoded`
        holds it, else the in-memory values encoded (facts §5.3); ``None`` when absent.

        Raises
        ------
        OutputError
            The encoded BOA uses another ``BOA_ADD_OFFSET`` than ``boa_add_offset``.
        """
        if self.encoded is not None and self.encoded.has(key):
            if key.layer == "boa" and self.encoded.boa_add_offset != boa_add_offset:
                raise OutputError(
                    f"encoded BOA has BOA_ADD_OFFSET {self.encoded.boa_add_offset}, the "
                    f"product {boa_add_offset}",
                    path=key.stem,
                )
            return EncodedLayer(self.encoded, key)
        res = key.resolution
        boa = self.boa.get(res, {})
        if key.layer == "boa":
            rho = boa.get(str(key.band))
            return (
                None if rho is None else encode_boa(rho, BOA_QUANTIFICATION_VALUE, boa_add_offset)
            )
        if key.layer == "visual":
            if not all(band in boa for band in TCI_BANDS):
                return None
            return true_colour(*(boa[band] for band in TCI_BANDS))
        values, quantification = {
            "aot": (self.aot550, AOT_QUANTIFICATION_VALUE),
            "wvp": (self.wvp_cm, WVP_QUANTIFICATION_VALUE),
        }[key.layer]
        return None if res not in values else encode_scaled(values[res], quantification)

    def preview_tci(
        self, resolution: int, grid: RasterGrid, *, nodata: int | None = None
    ) -> np.ndarray | None:
        """The TCI at ``resolution`` reduced to the 320 m preview grid (PVI, thumbnail), or
        ``None`` without one: :func:`core.product.quicklook.preview` of the in-memory TCI, or
        the encoded TCI (``nodata=0``: reduced by GDAL straight from the scratch);
        ``nodata`` as in :func:`~core.product.quicklook.preview`."""
        tci = self.pixels(EncodedKey("visual", resolution), 0)
        if tci is None:
            return None
        if isinstance(tci, np.ndarray):
            return preview(tci, grid, nodata=nodata)[0]
        if nodata is None:  # Sen2Cor averages no-data in: reduce the whole TCI as in memory
            return preview(tci.rasters.read(tci.key), grid)[0]
        shape = preview_grid(grid)
        return tci.rasters.read(tci.key, (shape.height, shape.width))


@dataclass(frozen=True)
class L2AWriteOptions:
    """How to write the product (the Sen2Cor command-line switches that shape the output)."""

    processing_baseline: ProcessingBaseline | None = None
    """``--processing_baseline``; ``None`` -> 99.99 (``N9999``)."""
    image_format: ImageFormat = "JP2"
    """``JP2`` (default), ``TIF`` (``--tif``) or ``RAW`` (``--raw``, ``.rawl`` + ENVI header)."""
    sc_cog: bool = False
    """``--sc_cog``: the SCL as a cloud-optimised GeoTIFF instead of JP2."""
    resolutions: tuple[int, ...] = (10, 20, 60)
    """Resolutions whose layers are written (layers at other resolutions are not written)."""
    processing_centre: str | None = None
    """``--processing_centre`` (4 chars); ``None`` keeps the L1C centre."""
    archiving_centre: str | None = None
    """``--archiving_centre`` (4 chars); ``None`` = the processing centre."""
    generate_tci: bool = True
    """``Generate_TCI_Output``."""
    overwrite: bool = False
    """Replace an existing product of the same name instead of failing."""
    threads: int = 1
    """JPEG 2000 encoder threads."""
    schema_dir: str | None = None
    """Folder holding the L2A PSD schemas copied into ``rep_info`` (Sen2Cor's cfg schemas)."""
    product_doi: str = DEFAULT_DOI
    aux: mtd.AuxiliaryReferences = field(default_factory=mtd.AuxiliaryReferences)
    software_version: str = "2.12"


@dataclass(frozen=True, slots=True)
class _Layout:
    """Folders of the product under construction."""

    root: Path
    names: ProductNames

    @property
    def granule(self) -> Path:
        return self.root / "GRANULE" / self.names.granule

    @property
    def datastrip(self) -> Path:
        return self.root / "DATASTRIP" / self.names.datastrip

    def img(self, resolution: int) -> Path:
        return self.granule / "IMG_DATA" / f"R{resolution}m"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def write_l2a_product(
    l1c: L1CProductLike,
    output_dir: str,
    *,
    layers: L2ALayers | None,
    options: L2AWriteOptions,
    generation_time: datetime | None = None,
) -> str:
    """Write the L2A product of ``l1c`` into ``output_dir`` and return its path.

    Parameters
    ----------
    l1c
        The input product (metadata + source file URIs).
    output_dir
        Local folder or ``s3://`` prefix receiving ``S2x_MSIL2A_....SAFE``.
    layers
        Computed rasters; ``None`` means ``--cr_only``: the tree, converted metadata and copied
        L1C QI/AUX/rep_info files are written, but no image rasters (noted in MTD_MSIL2A.xml).
    options
        Format, baseline, resolutions, centres, overwrite policy.
    generation_time
        Product generation time (UTC); now when ``None``.

    Raises
    ------
    OutputError
        The product exists (without ``overwrite``), a layer does not fit its grid, or writing
        fails. Nothing is left behind in ``output_dir`` in that case.
    """
    meta = l1c.metadata
    generated = (generation_time or datetime.now(UTC)).astimezone(UTC)
    baseline = options.processing_baseline or DEFAULT_BASELINE
    names = ProductNames.l2a_from_l1c(
        meta, generation_time=generated, baseline=baseline, centre=options.processing_centre
    )
    identity = mtd.ProductIdentity(
        names=names,
        generation_time=generated,
        product_doi=options.product_doi,
        boa_add_offset=BOA_ADD_OFFSET if baseline >= OFFSET_BASELINE else 0,
        archiving_centre=check_centre(options.archiving_centre, "archiving centre")
        if options.archiving_centre
        else names.centre,
    )
    documents = _L1CDocuments.read(l1c.files)
    destination = storage.join(output_dir, names.product)
    with staged_product(destination, overwrite=options.overwrite) as root:
        layout = _Layout(root, names)
        _make_tree(layout)
        _copy_l1c_files(l1c.files, layout, options)
        image_files: list[str] = []
        qi: ImageContentQI | None = None
        pvi_file: str | None = None
        if layers is not None:
            image_files = _write_rasters(layers, meta, layout, options, identity)
            pvi_file = _write_preview(layers, meta, layout, options)
            qi = _quality(layers)
            if qi is not None:
                report = l2a_quality_xml(
                    qi,
                    layers.atmosphere,
                    mission_id=meta.mission_id,
                    tile_long_id=names.tile_long_id,
                    degraded_msi_percentage=documents.degraded_msi_percentage,
                    average_sun_zenith_deg=meta.mean_sun_zenith,
                    creation_time=generated,
                    software_version=options.software_version,
                )
                _write_xml(layout.granule / "QI_DATA" / "L2A_QUALITY.xml", report)
        _write_metadata(
            documents,
            meta,
            layout=layout,
            identity=identity,
            options=options,
            image_files=image_files,
            qi=qi,
            atmosphere=layers.atmosphere if layers else None,
            pvi_file=pvi_file,
        )
        _write_html(layout, pvi_file)
        manifest = manifest_safe(root, l1c_manifest=documents.manifest, generation_time=generated)
        (root / "manifest.safe").write_bytes(serialize_manifest(manifest))
    return destination


@dataclass(frozen=True, slots=True)
class _L1CDocuments:
    """The L1C metadata documents, parsed before anything is written (bad input fails early)."""

    product: ET.Element
    product_uri: str
    tile: ET.Element
    tile_uri: str
    datastrip: ET.Element | None
    manifest: ET.Element | None

    @classmethod
    def read(cls, files: L1CSourceFiles) -> _L1CDocuments:
        optional = (files.datastrip_metadata, files.manifest)
        datastrip, manifest = (_parse(uri) if uri else None for uri in optional)
        return cls(
            product=_parse(files.product_metadata),
            product_uri=files.product_metadata,
            tile=_parse(files.tile_metadata),
            tile_uri=files.tile_metadata,
            datastrip=datastrip,
            manifest=manifest,
        )

    @property
    def degraded_msi_percentage(self) -> str:
        """``DEGRADED_MSI_DATA_PERCENTAGE`` of the L1C tile, carried into the L2A QI."""
        path = "Quality_Indicators_Info/Image_Content_QI/DEGRADED_MSI_DATA_PERCENTAGE"
        return find_text(self.tile, path) or "0"


def _parse(uri: str) -> ET.Element:
    return parse_xml_bytes(storage.read_bytes(uri), path=uri)


def _make_tree(layout: _Layout) -> None:
    for folder in (
        layout.datastrip / "QI_DATA",
        layout.granule / "AUX_DATA",
        layout.granule / "QI_DATA",
        *(layout.img(r) for r in RESOLUTION_DIRS),
        layout.root / "HTML",
        layout.root / "rep_info",
    ):
        folder.mkdir(parents=True, exist_ok=True)


def _copy_l1c_files(files: L1CSourceFiles, layout: _Layout, options: L2AWriteOptions) -> None:
    """Copy what Sen2Cor copies from the L1C: tile/datastrip QI, AUX_DATA, INSPIRE.xml."""
    copies: list[tuple[str, Path]] = [
        *((uri, layout.granule / "QI_DATA" / name) for name, uri in files.tile_qi.items()),
        *((uri, layout.datastrip / "QI_DATA" / name) for name, uri in files.datastrip_qi.items()),
        *((uri, layout.granule / "AUX_DATA" / name) for name, uri in files.aux.items()),
    ]
    if files.inspire:
        copies.append((files.inspire, layout.root / "INSPIRE.xml"))
    if options.schema_dir:
        copies += [
            (storage.join(options.schema_dir, name), layout.root / "rep_info" / name)
            for name in L2A_SCHEMAS
        ]
    for uri, target in copies:
        target.write_bytes(storage.read_bytes(uri))


def _grid(meta: L1CMetadata, resolution: int) -> RasterGrid:
    try:
        return meta.grids[resolution]
    except KeyError:
        raise OutputError(
            f"the L1C metadata has no {resolution} m grid", path=meta.product_uri
        ) from None


def _write_rasters(
    layers: L2ALayers,
    meta: L1CMetadata,
    layout: _Layout,
    options: L2AWriteOptions,
    identity: mtd.ProductIdentity,
) -> list[str]:
    """Write every layer of every requested resolution; return the IMAGE_FILE entries.

    Order per resolution as in real MTD_MSIL2A.xml: bands, TCI, AOT, WVP, SCL. The files are
    encoded ``options.threads`` at a time, one encoder thread each (band-level parallelism:
    the JPEG 2000 encoder scales poorly within one band, perf anchors B.1).
    """
    fmt = options.image_format
    ext = EXTENSIONS[fmt]
    boa_offset = identity.boa_add_offset
    written: list[str] = []
    tasks: list[Callable[[], None]] = []

    def put(
        res: int,
        layer: str,
        pixels: np.ndarray | EncodedLayer,
        *,
        kind: LayerKind,
        scale: float | None = None,
        offset: float | None = None,
    ) -> None:
        stem = layout.names.image_stem(layer, res)
        cog = layer == "SCL" and options.sc_cog
        path = layout.img(res) / (stem + (".tif" if cog else ext))
        tasks.append(
            partial(
                write_layer,
                str(path),
                pixels,
                _grid(meta, res),
                image_format="TIF" if cog else fmt,
                kind=kind,
                scale=scale,
                offset=offset,
            )
        )
        written.append(layout.relative(path).rsplit(".", 1)[0])

    for res in options.resolutions:
        held = layers.boa_bands(res)
        unknown = sorted(set(held) - set(BOA_BANDS.get(res, ())))
        if unknown:
            raise OutputError(f"Sen2Cor writes no {unknown} band at {res} m", path=meta.product_uri)
        for band in BOA_BANDS.get(res, ()):
            boa = layers.pixels(EncodedKey("boa", res, band), boa_offset)
            if boa is not None:
                put(
                    res,
                    band,
                    boa,
                    kind="reflectance",
                    scale=1.0 / BOA_QUANTIFICATION_VALUE,
                    offset=boa_offset / BOA_QUANTIFICATION_VALUE,
                )
        tci = layers.pixels(EncodedKey("visual", res), boa_offset)
        if options.generate_tci and tci is not None:
            put(res, "TCI", tci, kind="reflectance")
        for name, quantification in (
            ("aot", AOT_QUANTIFICATION_VALUE),
            ("wvp", WVP_QUANTIFICATION_VALUE),
        ):
            scaled = layers.pixels(EncodedKey(name, res), boa_offset)  # type: ignore[arg-type]
            if scaled is not None:
                put(res, name.upper(), scaled, kind="continuous", scale=1.0 / quantification)
        if res in SCL_RESOLUTIONS and res in layers.scene_class:
            put(res, "SCL", layers.scene_class[res].astype(np.uint8), kind="classification")
        for mask, values in (
            ("MSK_CLDPRB", layers.cloud_probability),
            ("MSK_SNWPRB", layers.snow_probability),
        ):
            if res in PROBABILITY_RESOLUTIONS and res in values:
                path = layout.granule / "QI_DATA" / f"{mask}_{res}m{ext}"
                tasks.append(
                    partial(
                        write_layer,
                        str(path),
                        values[res].astype(np.uint8),
                        _grid(meta, res),
                        image_format=fmt,
                        kind="continuous",
                    )
                )
    with ThreadPoolExecutor(max(options.threads, 1), thread_name_prefix="l2a-write") as pool:
        run_each(lambda task: task(), tasks, pool)
    return written


def _write_preview(
    layers: L2ALayers, meta: L1CMetadata, layout: _Layout, options: L2AWriteOptions
) -> str | None:
    """PVI (QI_DATA/T.._PVI.jp2) and the HTML quick-look from the coarsest TCI-capable layer,
    area-averaged to 320 m pixels with no-data averaged in, as Sen2Cor's PVI."""
    candidates = layers.tci_resolutions()
    if not candidates:
        return None
    res = candidates[-1]
    pvi = layers.preview_tci(res, _grid(meta, res))
    assert pvi is not None
    path = layout.granule / "QI_DATA" / f"{layout.names.pvi_stem}.jp2"
    write_jp2(str(path), pvi, preview_grid(_grid(meta, res)), nodata=None, threads=options.threads)
    write_png(str(layout.root / "HTML" / "UserProduct_index.png"), pvi)
    return layout.relative(path)


def _quality(layers: L2ALayers) -> ImageContentQI | None:
    """Image-content QIs on the classification grid (20 m, else 60 m; facts §1.1 step 8);
    statistics of encoded layers come from their window-by-window tallies."""
    for res in (20, 60, *sorted(layers.scene_class)):
        if res in layers.scene_class:
            qi = image_content_qi(
                layers.scene_class[res],
                aot550=layers.aot550.get(res),
                wvp_cm=layers.wvp_cm.get(res),
                boa=layers.boa.get(res),
            )
            encoded = layers.encoded
            if encoded is None:
                return qi
            aot, wv = (encoded.granule_mean(layer, res) for layer in ("aot", "wvp"))
            return replace(
                qi,
                negative_boa_percentage=qi.negative_boa_percentage
                | encoded.negative_boa_percentage(res),
                granule_mean_aot=qi.granule_mean_aot if aot is None else aot,
                granule_mean_wv=qi.granule_mean_wv if wv is None else wv,
            )
    return None


def _write_metadata(
    documents: _L1CDocuments,
    meta: L1CMetadata,
    *,
    layout: _Layout,
    identity: mtd.ProductIdentity,
    options: L2AWriteOptions,
    image_files: list[str],
    qi: ImageContentQI | None,
    atmosphere: AtmosphereSummary | None,
    pvi_file: str | None,
) -> None:
    """MTD_MSIL2A.xml, the L2A MTD_TL.xml and MTD_DS.xml, converted from the L1C documents."""
    product = mtd.product_metadata(
        documents.product,
        source=documents.product_uri,
        identity=identity,
        image_files=image_files,
        image_format=IMAGE_FORMAT_ATTRIBUTE[options.image_format],
        qi=qi,
        atmosphere=atmosphere,
        aux=options.aux,
    )
    _write_xml(layout.root / "MTD_MSIL2A.xml", product)
    ext = EXTENSIONS[options.image_format]
    extra_masks = [
        (mask, layout.relative(layout.granule / "QI_DATA" / f"{mask}_{res}m{ext}"))
        for res in PROBABILITY_RESOLUTIONS
        for mask in ("MSK_CLDPRB", "MSK_SNWPRB")
        if (layout.granule / "QI_DATA" / f"{mask}_{res}m{ext}").exists()
    ]
    tile = mtd.tile_metadata(
        documents.tile,
        source=documents.tile_uri,
        identity=identity,
        l1c_granule_dir=f"GRANULE/{layout.names.l1c_granule}",
        qi=qi,
        atmosphere=atmosphere,
        extra_masks=extra_masks,
        pvi_file=pvi_file,
    )
    _write_xml(layout.granule / "MTD_TL.xml", tile)
    datastrip = mtd.datastrip_metadata(
        documents.datastrip, l1c=meta, identity=identity, aux=options.aux
    )
    _write_xml(layout.datastrip / "MTD_DS.xml", datastrip)


def _write_html(layout: _Layout, pvi_file: str | None) -> None:
    listing = sorted(
        layout.relative(p) for p in layout.root.rglob("*") if p.is_file() and "HTML" not in p.parts
    )
    page = index_html(layout.names.product, "UserProduct_index.png" if pvi_file else None, listing)
    (layout.root / "HTML" / "UserProduct_index.html").write_text(page, encoding="utf-8")


def _write_xml(path: Path, root: ET.Element) -> None:
    path.write_bytes(mtd.serialize(root))
