//! A paste's bytes on their way out: one piece for a paste read whole (or from the cache),
//! many pieces for a large one read in slices, so that a response never needs a second
//! contiguous copy of a large paste and its memory shrinks as it is written out.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::memory_budget::Room;
use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;

#[derive(Debug, Default)]
pub struct PasteBytes {
    pieces: VecDeque<Bytes>,
    len: usize,
    /// Room in the response budget, given back when the response is done with.
    room: Option<Room>,
}

impl PasteBytes {
    pub fn from_pieces(pieces: impl IntoIterator<Item = Bytes>) -> Self {
        let pieces: VecDeque<Bytes> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        let len = pieces.iter().map(Bytes::len).sum();
        PasteBytes {
            pieces,
            len,
            room: None,
        }
    }

    /// The same bytes, holding `room` in a memory budget for as long as they live.
    pub fn holding(mut self, room: Room) -> Self {
        self.room = Some(room);
        self
    }

    /// Bytes not yet written out.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One contiguous copy (tests and small pastes).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        for piece in &self.pieces {
            all.extend_from_slice(piece);
        }
        all
    }
}

impl From<Bytes> for PasteBytes {
    fn from(bytes: Bytes) -> Self {
        PasteBytes::from_pieces([bytes])
    }
}

impl MessageBody for PasteBytes {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len as u64)
    }

    /// One piece at a time: actix copies each into its write buffer, which so stays small.
    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let piece = this.pieces.pop_front();
        if let Some(piece) = &piece {
            this.len -= piece.len();
        }
        Poll::Ready(piece.map(Ok))
    }

    /// A paste in one piece goes out as plain bytes, with the head in one write; unless it
    /// holds room in the response budget: as plain bytes it would be dropped here, giving
    /// the room back while actix still holds the whole paste in its write buffer.
    fn try_into_bytes(mut self) -> Result<Bytes, Self> {
        if self.pieces.len() <= 1 && self.room.is_none() {
            Ok(self.pieces.pop_front().unwrap_or_default())
        } else {
            Err(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn pieces_come_out_in_order_and_the_size_counts_down() {
        let mut body = PasteBytes::from_pieces([
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!(body.to_vec(), b"abcde");
        assert!(matches!(body.size(), BodySize::Sized(5)));
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
        assert_eq!(first.unwrap().unwrap(), "ab");
        assert!(matches!(body.size(), BodySize::Sized(3)));
        let all = actix_web::body::to_bytes(body).await.unwrap();
        assert_eq!(all, "cde");
    }

    #[test]
    fn one_piece_is_plain_bytes() {
        let body = PasteBytes::from(Bytes::from_static(b"whole"));
        assert_eq!(body.try_into_bytes().unwrap(), "whole");
        assert_eq!(PasteBytes::default().try_into_bytes().unwrap(), "");
        let two = PasteBytes::from_pieces([Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        assert!(two.try_into_bytes().is_err());
    }

    /// Pastes up to 1 MiB are read in one piece: the response must keep their room in the
    /// response budget until actix has taken the last piece, not give it back as the
    /// handler returns.
    #[actix_web::test]
    async fn a_response_holds_its_room_until_its_body_is_taken() {
        let budget = crate::memory_budget::SharedBudget::new(10);
        let all = budget.available();
        let room = budget.try_reserve(None, 10).unwrap();
        let body = PasteBytes::from(Bytes::from_static(b"one piece")).holding(room);
        let response = actix_web::HttpResponse::Ok().body(body);
        assert_eq!(
            budget.available(),
            all - 10,
            "room given back before sending"
        );
        let sent = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(sent, "one piece");
        assert_eq!(budget.available(), all);
    }
}
