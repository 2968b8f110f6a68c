// The Vercel AI SDK through glm-proxy (README's recipe), run by tests/test_client_vercel_ai.py:
// generateText and streamText with a tool, each through a whole round trip. The proxy's base URL
// comes from GLM_PROXY_URL (default http://127.0.0.1:8082/v1).
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const baseURL = process.env.GLM_PROXY_URL ?? "http://127.0.0.1:8082/v1";
const glm = createOpenAICompatible({ name: "glm-proxy", baseURL, apiKey: "not-needed" });
const tools = {
  get_weather: tool({
    description: "Get the current weather of a city",
    inputSchema: z.object({ location: z.string() }),
    execute: async ({ location }) => `22 degrees and sunny in ${location}`,
  }),
};
const request = {
  model: glm("glm-4.5-air"),
  tools,
  stopWhen: stepCountIs(3),
  prompt: "What's the weather like in Seoul?",
};

const whole = await generateText(request);
for (const step of whole.steps) {
  for (const call of step.toolCalls) {
    console.log(`generateText tool call: ${call.toolName}(${JSON.stringify(call.input)})`);
  }
}
console.log(`generateText answer: ${whole.text}`);

const streamed = streamText(request);
for await (const part of streamed.fullStream) {
  if (part.type === "tool-call") {
    console.log(`streamText tool call: ${part.toolName}(${JSON.stringify(part.input)})`);
  } else if (part.type === "error") {
    throw part.error;
  }
}
console.log(`streamText answer: ${await streamed.text}`);
