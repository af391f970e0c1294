/**
 * The HTTP ceiling: Express 5 parsing the JSON body of the service's route and sending a
 * constant 200 response, with no other I/O. Started by `npm run bench`; listens on
 * 127.0.0.1:PORT.
 */
import express from "express";

import { exitWhenStdinCloses } from "./lifeline.js";

/** A response of the size and shape of the service's, so both send as many bytes. */
const RESPONSE = {
  status: "success",
  message: "Event published to queue bench/order/created",
  event_uid: "019b0b8e-6c1a-7d3e-9f20-5a7c3e1b2d4f",
  event_timestamp: "2026-12-04T15:27:47.203Z",
};

const port = Number(process.env.PORT ?? 3000);
const app = express();
app.use(express.json());
app.post("/api/event/:solution/:model/:action", (_request, response) => {
  response.status(200).json(RESPONSE);
});
app.listen(port, "127.0.0.1");
exitWhenStdinCloses();
