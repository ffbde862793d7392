//! A `wasi:http/proxy` component that answers every request with `pong`
//! as `text/plain`: the work of the hello app's `GET /ping`, written for
//! `wasmtime serve`, so the request-path benchmark can measure the
//! reference host beside Hutong on the same answer.

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Ping);

struct Ping;

impl wasip2::exports::http::incoming_handler::Guest for Ping {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())])
            .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the response's body");
        ResponseOutparam::set(response_out, Ok(response));
        let out = body.write().expect("the body's stream");
        out.blocking_write_and_flush(b"pong")
            .expect("write the body");
        drop(out);
        OutgoingBody::finish(body, None).expect("finish the body");
    }
}
