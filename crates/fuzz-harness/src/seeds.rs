//! A few valid inputs per target, built with the relay's own encoders (and `rml_rtmp`'s client
//! for RTMP), so the fuzzer starts from inputs that reach deep into each parser and the seeds
//! follow the formats as they change. `cargo run -p fuzz-harness --example write_seeds` writes
//! them to `fuzz/corpus/<target>/`.

use bytes::{Bytes, BytesMut};
use flv::{file_header, write_tag_into, Tag, TagType};
use relay_control::auth::{jwt, Claims, SecretKey};
use relay_proto::{
    frame, Announcement, CloudMessage, EdgeMessage, MediaKey, Message, NackRange, NackRequest,
    Packetizer, ViewerCount,
};
use rml_amf0::Amf0Value;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, ServerSession, ServerSessionConfig, ServerSessionEvent,
    ServerSessionResult, StreamMetadata,
};
use std::collections::HashMap;

/// One seed: the target it is for, a file name, the bytes.
pub type Seed = (&'static str, &'static str, Vec<u8>);

/// An AVC sequence header tag body (AVCDecoderConfigurationRecord of a 320x240 Baseline SPS).
const AVC_SEQUENCE_HEADER: &[u8] = &[
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x0b, 0x67, 0x42, 0xc0,
    0x1e, 0xda, 0x05, 0x07, 0xe8, 0x40, 0x00, 0x00, 0x03, 0x01, 0x00, 0x04, 0x68, 0xce, 0x3c, 0x80,
];
/// An AAC sequence header tag body (AAC-LC, 44.1 kHz, stereo).
const AAC_SEQUENCE_HEADER: &[u8] = &[0xaf, 0x00, 0x12, 0x10];
/// An E-RTMP HEVC sequence start (`hvc1`, a header-only record).
const HEVC_SEQUENCE_START: &[u8] = &[
    0x90, b'h', b'v', b'c', b'1', 0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x5d, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x00,
];
/// A key frame and an inter frame of AVC, with composition times.
const AVC_KEYFRAME: &[u8] = &[
    0x17, 0x01, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88,
];
const AVC_INTER: &[u8] = &[
    0x27, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x41, 0x9a,
];
const AAC_FRAME: &[u8] = &[0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c];

fn metadata_body() -> Vec<u8> {
    let mut properties = HashMap::new();
    properties.insert("width".to_owned(), Amf0Value::Number(320.0));
    properties.insert("framerate".to_owned(), Amf0Value::Number(25.0));
    properties.insert("encoder".to_owned(), Amf0Value::Utf8String("Lavf".into()));
    properties.insert("stereo".to_owned(), Amf0Value::Boolean(true));
    let values = vec![
        Amf0Value::Utf8String("onMetaData".into()),
        Amf0Value::Object(properties),
    ];
    rml_amf0::serialize(&values).expect("metadata serializes")
}

fn tags() -> Vec<Tag> {
    let tag = |tag_type, timestamp, body: &[u8]| {
        Tag::new(tag_type, timestamp, Bytes::copy_from_slice(body))
    };
    vec![
        tag(TagType::Script, 0, &metadata_body()),
        tag(TagType::Video, 0, AVC_SEQUENCE_HEADER),
        tag(TagType::Audio, 0, AAC_SEQUENCE_HEADER),
        tag(TagType::Video, 0, AVC_KEYFRAME),
        tag(TagType::Audio, 23, AAC_FRAME),
        tag(TagType::Video, 40, AVC_INTER),
    ]
}

fn announcement() -> Announcement {
    Announcement {
        stream: "live/seed".into(),
        epoch: 1_704_067_200_000,
        config_tags: tags().into_iter().take(3).collect(),
    }
}

/// Datagrams as the cloud sends them, each with the one-byte length prefix of
/// [`crate::rtp_receiver`] (lengths rounded up to 8, padding makes no valid packet shorter).
fn rtp_stream(reorder: bool) -> Vec<u8> {
    let key = MediaKey::from_bytes(crate::media::FUZZ_MEDIA_KEY);
    let mut packetizer = Packetizer::new(0x5eed, 1, 200, key).expect("a packetizer");
    let mut packets = Vec::new();
    let mut messages = vec![Message::Announce(announcement())];
    messages.extend(tags().into_iter().map(Message::Tag));
    messages.push(Message::End);
    for message in &messages {
        packetizer
            .packetize(message, &mut packets)
            .expect("packetizes");
    }
    if reorder {
        packets.swap(1, 3);
        packets.remove(5);
    }
    let mut out = Vec::new();
    for packet in packets {
        let datagram = packet.to_datagram();
        let units = datagram.len().div_ceil(8);
        out.push(u8::try_from(units).expect("datagrams under 2 KiB"));
        out.extend_from_slice(&datagram);
        out.resize(out.len() + units * 8 - datagram.len(), 0);
    }
    out
}

fn flv_file_of(tags: &[Tag]) -> Vec<u8> {
    let mut out = BytesMut::from(&file_header(true, true)[..]);
    for tag in tags {
        write_tag_into(&mut out, tag.tag_type, tag.timestamp, &tag.body).expect("a small tag");
    }
    out.to_vec()
}

fn flv_file() -> Vec<u8> {
    flv_file_of(&tags())
}

/// Three seconds at 25 frames per second with a keyframe every second, and AAC every 23 ms:
/// enough for the packager to cut parts and segments.
fn three_seconds() -> Vec<u8> {
    let mut tags = tags()[..3].to_vec();
    let mut audio = 0;
    for frame in 0..75u32 {
        let at = frame * 40;
        while audio <= at {
            tags.push(Tag::new(
                TagType::Audio,
                audio,
                Bytes::from_static(AAC_FRAME),
            ));
            audio += 23;
        }
        let body = if frame % 25 == 0 {
            AVC_KEYFRAME
        } else {
            AVC_INTER
        };
        tags.push(Tag::new(TagType::Video, at, Bytes::from_static(body)));
    }
    flv_file_of(&tags)
}

fn repair_stream() -> Vec<u8> {
    let edge = [
        EdgeMessage::Hello {
            version: 1,
            token: "edge-token".into(),
            edge_name: "edge-1".into(),
        }
        .encode(),
        EdgeMessage::Nack(NackRequest {
            ssrc: 0x5eed,
            id: 7,
            copies: 2,
            ranges: NackRange::pack(&[3, 5, 6, 40]),
        })
        .encode(),
        EdgeMessage::Viewers(vec![ViewerCount {
            ssrc: 0x5eed,
            players: 3,
        }])
        .encode(),
    ];
    let cloud = [
        CloudMessage::Welcome { version: 1 }.encode(),
        CloudMessage::Announce {
            ssrc: 0x5eed,
            key: MediaKey::from_bytes(crate::media::FUZZ_MEDIA_KEY),
            first_seq: 1,
            announcement: announcement(),
        }
        .encode(),
        CloudMessage::End {
            ssrc: 0x5eed,
            last_seq: 99,
        }
        .encode(),
        CloudMessage::Evicted {
            ssrc: 0x5eed,
            seq: 3,
            next_keyframe: Some(10),
        }
        .encode(),
    ];
    edge.into_iter()
        .chain(cloud)
        .flat_map(|message| frame(message).to_vec())
        .collect()
}

/// What an encoder sends after the handshake: connect, createStream, publish `live/seed`,
/// `@setDataFrame` and media, produced by `rml_rtmp`'s client talking to its server.
fn rtmp_publish() -> Vec<u8> {
    let mut client_handshake = Handshake::new(PeerType::Client);
    let mut server_handshake = Handshake::new(PeerType::Server);
    let mut to_server = client_handshake
        .generate_outbound_p0_and_p1()
        .expect("p0/p1");
    while let HandshakeProcessResult::InProgress { response_bytes } = server_handshake
        .process_bytes(&to_server)
        .expect("server handshake")
    {
        to_server = match client_handshake
            .process_bytes(&response_bytes)
            .expect("client")
        {
            HandshakeProcessResult::InProgress { response_bytes }
            | HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
        };
    }
    let (mut server, greeting) = ServerSession::new(ServerSessionConfig::new()).expect("server");
    let (mut client, initial) = ClientSession::new(ClientSessionConfig::new()).expect("client");
    let mut sent = Vec::new();
    let mut to_client = Vec::new();
    for result in greeting {
        if let ServerSessionResult::OutboundResponse(packet) = result {
            to_client.extend_from_slice(&packet.bytes);
        }
    }
    let mut pump = |results: Vec<ClientSessionResult>,
                    client: &mut ClientSession,
                    sent: &mut Vec<u8>| {
        let mut queue = results;
        let mut published = false;
        while !queue.is_empty() {
            for result in std::mem::take(&mut queue) {
                match result {
                    ClientSessionResult::OutboundResponse(packet) => {
                        sent.extend_from_slice(&packet.bytes);
                        for answer in server.handle_input(&packet.bytes).expect("server input") {
                            match answer {
                                ServerSessionResult::OutboundResponse(packet) => {
                                    to_client.extend_from_slice(&packet.bytes)
                                }
                                ServerSessionResult::RaisedEvent(
                                    ServerSessionEvent::ConnectionRequested { request_id, .. }
                                    | ServerSessionEvent::PublishStreamRequested {
                                        request_id, ..
                                    },
                                ) => {
                                    for accepted in
                                        server.accept_request(request_id).expect("accepted")
                                    {
                                        if let ServerSessionResult::OutboundResponse(packet) =
                                            accepted
                                        {
                                            to_client.extend_from_slice(&packet.bytes);
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::ConnectionRequestAccepted,
                    ) => queue.push(
                        client
                            .request_publishing("seed".into(), PublishRequestType::Live)
                            .expect("publish"),
                    ),
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::PublishRequestAccepted,
                    ) => published = true,
                    _ => {}
                }
            }
            if !to_client.is_empty() {
                queue.extend(client.handle_input(&to_client).expect("client input"));
                to_client.clear();
            }
        }
        published
    };
    let mut results = initial;
    results.push(client.request_connection("live".into()).expect("connect"));
    assert!(pump(results, &mut client, &mut sent), "the seed publishes");
    let mut metadata = StreamMetadata::new();
    metadata.video_width = Some(320);
    metadata.video_frame_rate = Some(25.0);
    metadata.encoder = Some("Lavf".into());
    let mut media = vec![client.publish_metadata(&metadata).expect("metadata")];
    for tag in tags().into_iter().skip(1) {
        let timestamp = rml_rtmp::time::RtmpTimestamp::new(tag.timestamp);
        media.push(
            match tag.tag_type {
                TagType::Video => client.publish_video_data(tag.body, timestamp, false),
                _ => client.publish_audio_data(tag.body, timestamp, false),
            }
            .expect("media"),
        );
    }
    pump(media, &mut client, &mut sent);
    // The first byte is the read size of `rtmp_ingest`: reads of 16 * 7 + 1 bytes.
    let mut seed = vec![7];
    seed.extend(sent);
    seed
}

/// Every seed, by target.
pub fn seeds() -> Vec<Seed> {
    let token = jwt::mint(
        &SecretKey::new(b"fuzz-jwt-key".to_vec()).expect("key"),
        &Claims {
            exp: 1_704_067_260,
            iat: Some(1_704_067_200),
            app_id: "app".into(),
            user_id: "alice".into(),
            device_id: String::new(),
            role: "admin".into(),
        },
    );
    let json = |value: serde_json::Value| value.to_string().into_bytes();
    vec![
        ("rtmp_ingest", "publish", rtmp_publish()),
        ("rtp_receiver", "in-order", rtp_stream(false)),
        ("rtp_receiver", "reordered-and-lost", rtp_stream(true)),
        ("announcement", "live-seed", announcement().encode().to_vec()),
        ("repair_messages", "both-ways", repair_stream()),
        ("flv_reader", "avc-aac", flv_file()),
        ("hls_packager", "avc-aac-3s", three_seconds()),
        ("codec_info", "avc-sequence-header", AVC_SEQUENCE_HEADER.to_vec()),
        ("codec_info", "aac-sequence-header", AAC_SEQUENCE_HEADER.to_vec()),
        ("codec_info", "hevc-sequence-start", HEVC_SEQUENCE_START.to_vec()),
        ("codec_info", "avc-keyframe", AVC_KEYFRAME.to_vec()),
        ("amf0", "on-metadata", metadata_body()),
        ("jwt", "minted", token.into_bytes()),
        ("jwt", "claims", b"alice\xffapp\xffadmin".to_vec()),
        (
            "request_signature",
            "post-json",
            b"POST\xff/server/live/room\xffpage=1\xffContent-Type:application/json\nX-Qiniu-Meta-App:a\xff{\"room_id\":\"r1\"}".to_vec(),
        ),
        ("push_url", "expire", b"live\xffroom1?expire=1704067260&token=AAAA\xff".to_vec()),
        ("push_url", "expiry-sk", b"live?x=1\xffroom1\xffe=1704067260&token=fuzz-ak:AAAA".to_vec()),
        ("webhook", "signed", b"t=1704067200,v1=00ff".to_vec()),
        (
            "request_head",
            "flv-play",
            b"GET /live/room1.flv?token=abc HTTP/1.1\r\nHost: edge\r\nX-Reqid: r-1\r\n\r\n".to_vec(),
        ),
        (
            "room_json",
            "gift",
            json(serde_json::json!({"gift_id": 1, "type": 2, "name": "rose", "amount": 10})),
        ),
        (
            "room_json",
            "user",
            json(serde_json::json!({"user_id": "u1", "nick": "n", "extends": {"k": "v"}})),
        ),
        (
            "room_json",
            "room",
            json(serde_json::json!({"anchor_id": "u1", "title": "t", "extends": {}})),
        ),
    ]
}
