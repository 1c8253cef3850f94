//! The initialization segment: `ftyp` + `moov`.

use super::boxes::{put_unity_matrix, write_box, write_full_box, Put};
use super::{VideoParams, TIMESCALE, TRACK_ID};

/// Builds the initialization segment for one video track: `ftyp` (brands
/// iso5, iso6, mp41) and `moov` with `mvhd`, one `trak` (`tkhd`, `mdia` with
/// `mdhd`, `hdlr` "vide", `minf` with `vmhd`, `dinf`/`dref` and an `stbl`
/// holding the `avc1`/`hvc1` sample entry with its `avcC`/`hvcC` and empty
/// sample tables) and `mvex`/`trex`. Durations are 0: the stream is live.
///
/// Send it before the first media segment and again whenever the parameters
/// change ([`super::FragmentWriter::set_params`]).
pub fn init_segment(params: &VideoParams) -> Vec<u8> {
    let mut out = Vec::with_capacity(700 + params.decoder_config().len());
    write_box(&mut out, b"ftyp", |out| {
        out.extend_from_slice(b"iso5");
        out.put_u32(512); // minor_version
        for brand in [b"iso5", b"iso6", b"mp41"] {
            out.extend_from_slice(brand);
        }
    });
    write_box(&mut out, b"moov", |out| {
        write_mvhd(out);
        write_box(out, b"trak", |out| {
            write_tkhd(out, params);
            write_box(out, b"mdia", |out| {
                write_full_box(out, b"mdhd", 0, 0, |out| {
                    out.put_u32(0); // creation_time
                    out.put_u32(0); // modification_time
                    out.put_u32(TIMESCALE);
                    out.put_u32(0); // duration
                    out.put_u16(0x55C4); // language "und"
                    out.put_u16(0); // pre_defined
                });
                write_full_box(out, b"hdlr", 0, 0, |out| {
                    out.put_u32(0); // pre_defined
                    out.extend_from_slice(b"vide");
                    out.put_zeros(12); // reserved
                    out.extend_from_slice(b"VideoHandler\0");
                });
                write_box(out, b"minf", |out| write_minf(out, params));
            });
        });
        write_box(out, b"mvex", |out| {
            write_full_box(out, b"trex", 0, 0, |out| {
                out.put_u32(TRACK_ID);
                out.put_u32(1); // default_sample_description_index
                out.put_u32(0); // default_sample_duration
                out.put_u32(0); // default_sample_size
                out.put_u32(0); // default_sample_flags
            });
        });
    });
    out
}

fn write_mvhd(out: &mut Vec<u8>) {
    write_full_box(out, b"mvhd", 0, 0, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(TIMESCALE);
        out.put_u32(0); // duration
        out.put_u32(0x0001_0000); // rate 1.0
        out.put_u16(0x0100); // volume 1.0
        out.put_zeros(10); // reserved
        put_unity_matrix(out);
        out.put_zeros(24); // pre_defined
        out.put_u32(TRACK_ID + 1); // next_track_ID
    });
}

fn write_tkhd(out: &mut Vec<u8>, params: &VideoParams) {
    // flags: track_enabled | track_in_movie
    write_full_box(out, b"tkhd", 0, 0x3, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(TRACK_ID);
        out.put_u32(0); // reserved
        out.put_u32(0); // duration
        out.put_zeros(8); // reserved
        out.put_u16(0); // layer
        out.put_u16(0); // alternate_group
        out.put_u16(0); // volume (0 for video)
        out.put_u16(0); // reserved
        put_unity_matrix(out);
        out.put_u32(u32::from(params.width()) << 16); // 16.16 fixed point
        out.put_u32(u32::from(params.height()) << 16);
    });
}

fn write_minf(out: &mut Vec<u8>, params: &VideoParams) {
    write_full_box(out, b"vmhd", 0, 1, |out| {
        out.put_u16(0); // graphicsmode
        out.put_zeros(6); // opcolor
    });
    write_box(out, b"dinf", |out| {
        write_full_box(out, b"dref", 0, 0, |out| {
            out.put_u32(1); // entry_count
            write_full_box(out, b"url ", 0, 1, |_| {}); // media in this file
        });
    });
    write_box(out, b"stbl", |out| {
        write_full_box(out, b"stsd", 0, 0, |out| {
            out.put_u32(1); // entry_count
            write_sample_entry(out, params);
        });
        for kind in [b"stts", b"stsc"] {
            write_full_box(out, kind, 0, 0, |out| out.put_u32(0)); // entry_count
        }
        write_full_box(out, b"stsz", 0, 0, |out| {
            out.put_u32(0); // sample_size
            out.put_u32(0); // sample_count
        });
        write_full_box(out, b"stco", 0, 0, |out| out.put_u32(0)); // entry_count
    });
}

/// VisualSampleEntry (ISO/IEC 14496-12 12.1.3) with the decoder configuration box.
fn write_sample_entry(out: &mut Vec<u8>, params: &VideoParams) {
    let codec = params.codec();
    write_box(out, &codec.sample_entry_type(), |out| {
        out.put_zeros(6); // reserved
        out.put_u16(1); // data_reference_index
        out.put_u16(0); // pre_defined
        out.put_u16(0); // reserved
        out.put_zeros(12); // pre_defined
        out.put_u16(params.width());
        out.put_u16(params.height());
        out.put_u32(0x0048_0000); // horizresolution 72 dpi
        out.put_u32(0x0048_0000); // vertresolution 72 dpi
        out.put_u32(0); // reserved
        out.put_u16(1); // frame_count
        out.put_zeros(32); // compressorname (empty Pascal string)
        out.put_u16(0x0018); // depth
        out.put_u16(0xFFFF); // pre_defined = -1
        write_box(out, &codec.config_box_type(), |out| {
            out.extend_from_slice(params.decoder_config());
        });
    });
}
